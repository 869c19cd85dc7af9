#include "XercesRuntime.h"

#include <memory>
#include <stdexcept>
#include <string>

#include <xercesc/parsers/SAX2XMLReaderImpl.hpp>
#include <xercesc/sax2/DefaultHandler.hpp>
#include <xercesc/util/PlatformUtils.hpp>
#include <xercesc/util/SecurityManager.hpp>
#include <xercesc/util/XMLException.hpp>
#include <xercesc/util/XMLUni.hpp>

namespace sluice::plugins::xerces {

using namespace xercesc;

void ensureInitialized()
{
    static const bool initialized = [] {
        try {
            XMLPlatformUtils::Initialize();
        } catch (const XMLException&) {
            throw std::runtime_error("cannot initialise Xerces-C");
        }
        return true;
    }();
    (void)initialized;
}

namespace {

// The scanner reports every DOCTYPE to its doctype handler, with or without subsets, before it
// reads either subset; SAX2's startDTD is only called when there is a subset. Refusing here
// stops the parse at the declaration itself, so no internal subset is read and no external one
// is ever fetched.
class HardenedReader final : public SAX2XMLReaderImpl {
public:
    void doctypeDecl(const DTDElementDecl& elemDecl, const XMLCh* const publicId, const XMLCh* const systemId,
                     const bool hasIntSubset, const bool hasExtSubset) override
    {
        (void)elemDecl;
        (void)publicId;
        (void)systemId;
        (void)hasIntSubset;
        (void)hasExtSubset;
        throw DoctypeRefused{};
    }
};

struct ThreadReader {
    SecurityManager security;
    std::unique_ptr<SAX2XMLReader> reader;
};

void configure(SAX2XMLReader& r, SecurityManager& security)
{
    r.setFeature(XMLUni::fgSAX2CoreNameSpaces, true);
    r.setFeature(XMLUni::fgSAX2CoreNameSpacePrefixes, true);  // report xmlns attributes
    r.setFeature(XMLUni::fgSAX2CoreValidation, false);
    r.setFeature(XMLUni::fgXercesDynamic, false);
    r.setFeature(XMLUni::fgXercesSchema, false);
    r.setFeature(XMLUni::fgXercesSchemaFullChecking, false);
    r.setFeature(XMLUni::fgXercesLoadSchema, false);
    r.setFeature(XMLUni::fgXercesLoadExternalDTD, false);
    r.setFeature(XMLUni::fgXercesSkipDTDValidation, true);
    r.setFeature(XMLUni::fgXercesIdentityConstraintChecking, false);
    r.setFeature(XMLUni::fgXercesDisableDefaultEntityResolution, true);
    r.setFeature(XMLUni::fgXercesCacheGrammarFromParse, false);
    r.setFeature(XMLUni::fgXercesUseCachedGrammarInParse, false);
    r.setFeature(XMLUni::fgXercesContinueAfterFatalError, false);
    r.setFeature(XMLUni::fgXercesCalculateSrcOfs, false);
    security.setEntityExpansionLimit(16);
    r.setProperty(XMLUni::fgXercesSecurityManager, &security);
}

}  // namespace

SAX2XMLReader& threadReader()
{
    thread_local ThreadReader slot;
    if (!slot.reader) {
        std::unique_ptr<SAX2XMLReader> reader(new HardenedReader());
        try {
            configure(*reader, slot.security);
        } catch (...) {
            throw std::runtime_error("this Xerces-C lacks a feature the XML builder needs");
        }
        slot.reader = std::move(reader);
    }
    return *slot.reader;  // NOLINT(clang-analyzer-cplusplus.NewDelete): the analyzer loses the thread_local owner
}

ReaderHandlers::ReaderHandlers(SAX2XMLReader& reader, DefaultHandler& handler) noexcept : _reader(reader)
{
    _reader.setContentHandler(&handler);
    _reader.setErrorHandler(&handler);
    _reader.setLexicalHandler(&handler);
    _reader.setEntityResolver(&handler);
    _reader.setDTDHandler(&handler);
    _reader.setDeclarationHandler(&handler);
}

ReaderHandlers::~ReaderHandlers()
{
    _reader.setContentHandler(nullptr);
    _reader.setErrorHandler(nullptr);
    _reader.setLexicalHandler(nullptr);
    _reader.setEntityResolver(nullptr);
    _reader.setDTDHandler(nullptr);
    _reader.setDeclarationHandler(nullptr);
}

}  // namespace sluice::plugins::xerces
