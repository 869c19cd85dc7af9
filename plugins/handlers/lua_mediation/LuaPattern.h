#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::plugins::lua_pattern {

// Lua 5.4 patterns (reference manual §6.4.1) for the sandbox's string.find, match, gmatch and
// gsub. The standard library matches by recursing in C and nothing can stop it; here a pattern is
// first compiled into a flat list of items, and the matcher walks that list with a backtracking
// stack of its own, reporting its work to a callback (WorkMeter) so that the call can be ended at
// max_time_ms. Every unit of work is bounded: a set is a bitmap once it is longer than a few
// bytes, and long scans report as they go.
//
// The callback ends a call with longjmp (lua_error). Everything below is plain data for that
// reason: no destructor is skipped when a jump passes through.
//
// Errors of a malformed pattern are raised where the standard library raises them: only when
// matching reaches the malformed part. The compiler therefore ends the list with a Malformed item
// instead of failing.

constexpr int kMaxCaptures = 32;           // LUA_MAXCAPTURES of the standard library
constexpr std::size_t kWorkQuantum = 256;  // units of work between two progress callbacks
constexpr std::size_t kMaxPatternLength = 0x7fffffff;

enum class Op : std::uint8_t {
    Text,       // unescaped bytes matched as they are: pattern bytes [from, to)
    Literal,    // one byte (escaped, or with a repetition): `byte`
    Any,        // .
    Class,      // %a %d ...: `classBit`, `negated` for %A %D ...
    Set,        // [...]: content [from, to) of the pattern, `negated`, `bitmap`
    Balance,    // %bxy: `byte` = x, `close` = y
    Frontier,   // %f[...]: as Set
    BackRef,    // %1 ... %9: `capture`
    Open,       // (
    Position,   // ()
    Close,      // ): `capture` is the one it closes
    End,        // $ as the pattern's last character
    Malformed,  // matching reaches a pattern error: `error`, `errorNumber`
};

enum class Repeat : std::uint8_t {
    Once,
    ZeroOrMore,  // *  longest first
    OneOrMore,   // +  longest first
    Lazy,        // -  shortest first
    Optional,    // ?  one first
};

enum class PatternError : std::uint8_t {
    None,
    EndsWithEscape,       // "malformed pattern (ends with '%')"
    MissingBracket,       // "malformed pattern (missing ']')"
    MissingBalanceArgs,   // "malformed pattern (missing arguments to '%b')"
    MissingFrontierSet,   // "missing '[' after '%f' in pattern"
    InvalidCaptureIndex,  // "invalid capture index %N"
    InvalidPatternCapture,
    TooManyCaptures,
};

struct Item {
    Op op = Op::Any;
    Repeat repeat = Repeat::Once;             // Literal, Any, Class, Set
    bool negated = false;                     // Set, Frontier, Class
    unsigned char byte = 0;                   // Literal, Class, Balance
    unsigned char close = 0;                  // Balance
    std::uint8_t capture = 0;                 // BackRef, Close
    PatternError error = PatternError::None;  // Malformed
    std::uint8_t errorNumber = 0;             // Malformed InvalidCaptureIndex: the N of the message
    std::uint16_t classBit = 0;               // Class: the class's bit in the byte table
    std::uint32_t from = 0;                   // Text, Set, Frontier
    std::uint32_t to = 0;
    std::int32_t bitmap = -1;  // Set, Frontier: index into Program::bitmaps; -1: short, scanned
};

// The bytes a long set matches.
struct ByteSet {
    std::uint64_t words[4] = {};
    bool has(unsigned char c) const noexcept { return ((words[c >> 6] >> (c & 63)) & 1u) != 0; }
    void add(unsigned char c) noexcept { words[c >> 6] |= std::uint64_t{1} << (c & 63); }
};

// What a compiled pattern needs: its items, the backtracking records (one per item that can push
// one: repetitions and captures) and the bitmaps of its long sets.
struct Sizes {
    std::size_t items = 0;
    std::size_t choices = 0;
    std::size_t bitmaps = 0;
};

// Upper bounds of Sizes for any pattern of `length` bytes, for storage set aside in advance.
constexpr Sizes sizesBound(std::size_t length) { return Sizes{length + 1, length + 1, length / 8 + 1}; }

struct Program {
    const unsigned char* pattern = nullptr;
    const Item* items = nullptr;
    const ByteSet* bitmaps = nullptr;
    Sizes sizes;
    bool anchored = false;  // the pattern began with '^' and `anchors` was asked for
};

// A leading '^' anchors the match when `anchors` (find, match, gsub); gmatch takes it literally.
// The caller checks length <= kMaxPatternLength.
Sizes measure(const char* pattern, std::size_t length, bool anchors);
// `items` and `bitmaps` have room for what measure() (or sizesBound()) gave; compile() constructs
// the objects in them (raw storage will do).
Program compile(const char* pattern, std::size_t length, bool anchors, Item* items, ByteSet* bitmaps);

// The message of a Malformed item, written into `out` (NUL-terminated).
void describe(const Item& malformed, char* out, std::size_t size);

enum class ChoiceKind : std::uint8_t {
    RepeatLongest,   // * or +: `count` bytes taken from `position`; give one back on backtracking
    RepeatShortest,  // -: the rest was tried at `position`; take one more byte on backtracking
    TookOptional,    // ?: the rest was tried after taking one; try it without on backtracking
    UndoOpen,        // ( or (): forget the capture
    UndoClose,       // ): the capture of `item` is open again
};

// One backtracking record, made by item `item`.
struct Choice {
    std::uint32_t item;
    ChoiceKind kind;
    std::size_t position;
    std::size_t count;
};

struct Capture {
    static constexpr std::ptrdiff_t kUnfinished = -1;
    static constexpr std::ptrdiff_t kPosition = -2;
    std::size_t start;
    std::ptrdiff_t length;
};

using Progress = void (*)(void* context);

// Counts work and calls `progress` (when not null) once for every kWorkQuantum units.
class WorkMeter {
public:
    WorkMeter(Progress progress, void* context) noexcept : _progress(progress), _context(context) {}
    void spend(std::size_t units)
    {
        _work += units;
        while (_work >= kWorkQuantum) {
            _work -= kWorkQuantum;
            if (_progress != nullptr) {
                _progress(_context);
            }
        }
    }

private:
    Progress _progress;
    void* _context;
    std::size_t _work = 0;
};

class Matcher {
public:
    enum class Result { Matched, NoMatch, Malformed };

    // `stack` has room for program.sizes.choices records (raw storage will do).
    Matcher(const Program& program, const char* subject, std::size_t length, Choice* stack, WorkMeter& meter) noexcept;

    // Tries to match the program at `start` (0 ... length) and only there.
    Result matchAt(std::size_t start);

    // After Matched:
    std::size_t matchEnd() const noexcept { return _end; }
    int captureCount() const noexcept { return _level; }
    const Capture& capture(int index) const noexcept { return _captures[index]; }
    // After Malformed: the item that was reached.
    const Item& malformed() const noexcept { return *_malformed; }

private:
    bool matchesOne(const Item& item, unsigned char c) const noexcept;
    bool inSet(const Item& item, unsigned char c) const noexcept;
    std::size_t runLength(const Item& item, std::size_t from);
    bool text(const Item& item, std::size_t& position);
    bool balanced(const Item& item, std::size_t& position);
    bool frontier(const Item& item, std::size_t position) const noexcept;
    bool backReference(const Item& item, std::size_t& position);
    void push(std::size_t item, ChoiceKind kind, std::size_t position, std::size_t count) noexcept;
    bool backtrack(std::size_t& item, std::size_t& position);

    Program _program;
    const unsigned char* _subject;
    std::size_t _length;
    Choice* _stack;
    std::size_t _top = 0;
    WorkMeter& _meter;
    std::size_t _end = 0;
    int _level = 0;
    const Item* _malformed = nullptr;
    Capture _captures[kMaxCaptures];  // [0, _level) are set; not cleared per call
};

constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

// Where `needle` first occurs in `haystack` at or after `from`, or kNotFound.
std::size_t findPlain(WorkMeter& meter, const char* haystack, std::size_t haystackLength, std::size_t from,
                      const char* needle, std::size_t needleLength);

// True when the pattern has none of the characters that make it a pattern (find then searches
// for it as plain text, and a malformed part is never looked at).
bool isPlainText(const char* pattern, std::size_t length) noexcept;

}  // namespace sluice::plugins::lua_pattern
