#pragma once

#include <ctime>
#include <string>
#include <string_view>

namespace sluice::runtime::transport {

// `when` as an IMF-fixdate (RFC 9110 §5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT": always in
// English and GMT, whatever the locale.
std::string formatHttpDate(std::time_t when);

// Now, as formatHttpDate() writes it: formatted at most once a second per thread, for the Date
// field of every response (RFC 9110 §6.6.1). Valid until the thread's next call.
std::string_view httpDateNow();

}  // namespace sluice::runtime::transport
