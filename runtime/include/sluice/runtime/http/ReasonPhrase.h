#pragma once

namespace sluice::runtime::http {

// The reason phrase for a status code: the registered one (RFC 9110 section 15 and the IANA
// registry), else one by class ("OK", "Redirect", "Client Error", "Server Error"). For the
// gateway's answers, handlers' answers and a backend's status line without a reason.
const char* reasonPhrase(int status) noexcept;

}  // namespace sluice::runtime::http
