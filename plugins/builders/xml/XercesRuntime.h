#pragma once

// Xerces-C process state, as a plugin must handle it.
//
// XMLPlatformUtils::Initialize() is reference-counted and not thread-safe: it is called once
// per plugin, from create() (on the control thread, where creates never overlap). Terminate()
// is never called: the plugin is never unloaded, other plugins may share the library, and
// worker threads may still own parsers.
//
// Parsers are not thread-safe but are costly to create, so each worker thread keeps one
// configured SAX2 reader for its whole life (threadReader()).

#include <xercesc/sax2/DefaultHandler.hpp>
#include <xercesc/sax2/SAX2XMLReader.hpp>

namespace sluice::plugins::xerces {

// Thrown from inside a parse when the document has a DOCTYPE (any DOCTYPE is refused).
struct DoctypeRefused {};

// Initialises Xerces-C once per process; throws std::runtime_error when it cannot.
void ensureInitialized();

// This thread's reader, configured for hostile input: namespaces on, every DOCTYPE refused
// (DoctypeRefused is thrown at the declaration), no validation, no DTD or schema loading, no external entities, entity
// expansion capped. Handlers must be set before and cleared after each parse (see ReaderHandlers).
xercesc::SAX2XMLReader& threadReader();

// Installs one handler for every SAX2 role for the duration of a parse.
class ReaderHandlers {
public:
    ReaderHandlers(xercesc::SAX2XMLReader& reader, xercesc::DefaultHandler& handler) noexcept;
    ~ReaderHandlers();
    ReaderHandlers(const ReaderHandlers&) = delete;
    ReaderHandlers& operator=(const ReaderHandlers&) = delete;

private:
    xercesc::SAX2XMLReader& _reader;
};

}  // namespace sluice::plugins::xerces
