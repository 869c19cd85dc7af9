#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::plugins::lua_pattern {

// Lua 5.4 patterns (reference manual §6.4.1) for the sandbox's string.find, match, gmatch and
// gsub. The standard library matches by recursing in C and nothing can stop it; here a pattern is
// first compiled into a flat list of items, and the matcher walks that list with a backtracking
// stack of its own, reporting its work to a callback every kWorkQuantum units so that the call can
// be ended at max_time_ms.
//
// The callback ends a call with longjmp (lua_error). Everything below is plain data for that
// reason: no destructor is skipped when a jump passes through.
//
// Errors of a malformed pattern are raised where the standard library raises them: only when
// matching reaches the malformed part. The compiler therefore ends the list with a Malformed item
// instead of failing.

constexpr int kMaxCaptures = 32;               // LUA_MAXCAPTURES of the standard library
constexpr std::size_t kWorkQuantum = 256;      // units of work between two progress callbacks
constexpr std::size_t kMaxPatternLength = 0x7fffffff;

enum class Op : std::uint8_t {
    Literal,    // one byte: `byte`
    Any,        // .
    Class,      // %a %d ...: `byte` is the class letter (upper case: complement)
    Set,        // [...]: content [from, to) of the pattern, `negated`
    Balance,    // %bxy: `byte` = x, `other` = y
    Frontier,   // %f[...]: as Set
    BackRef,    // %1 ... %9: `byte` = capture index (0-based)
    Open,       // (
    Position,   // ()
    Close,      // ): `byte` = index of the capture it closes
    End,        // $ as the pattern's last character
    Malformed,  // matching reaches a pattern error: `byte` = PatternError, `other` = capture number
};

enum class Repeat : std::uint8_t {
    Once,
    ZeroOrMore,  // *  longest first
    OneOrMore,   // +  longest first
    Lazy,        // -  shortest first
    Optional,    // ?  one first
};

enum class PatternError : std::uint8_t {
    EndsWithEscape,       // "malformed pattern (ends with '%')"
    MissingBracket,       // "malformed pattern (missing ']')"
    MissingBalanceArgs,   // "malformed pattern (missing arguments to '%b')"
    MissingFrontierSet,   // "missing '[' after '%f' in pattern"
    InvalidCaptureIndex,  // "invalid capture index %N in pattern"
    InvalidPatternCapture,
    TooManyCaptures,
};

struct Item {
    Op op;
    Repeat repeat;
    unsigned char byte;
    unsigned char other;
    bool negated;
    std::uint32_t from;
    std::uint32_t to;
};

struct Program {
    const unsigned char* pattern = nullptr;
    const Item* items = nullptr;
    std::size_t count = 0;
    bool anchored = false;  // the pattern began with '^' and `anchors` was asked for
};

// Room `compile` needs for a pattern of `length` bytes (each item takes at least one byte, and
// one Malformed item may follow).
constexpr std::size_t itemCapacity(std::size_t length) { return length + 1; }

// A leading '^' anchors the match when `anchors` (find, match, gsub); gmatch takes it literally.
// The caller checks length <= kMaxPatternLength.
Program compile(const char* pattern, std::size_t length, bool anchors, Item* items);

// The message of a Malformed item, written into `out` (NUL-terminated).
void describe(const Item& malformed, char* out, std::size_t size);

// One backtracking record; the matcher needs at most program.count of them.
struct Choice {
    std::uint32_t item;
    std::uint8_t kind;
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

// Counts work and calls `progress` (when not null) every kWorkQuantum units.
class WorkMeter {
public:
    WorkMeter(Progress progress, void* context) noexcept : _progress(progress), _context(context) {}
    void spend(std::size_t units)
    {
        _work += units;
        if (_work >= kWorkQuantum) {
            _work = 0;
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

    // `stack` has room for program.count choices.
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
    std::size_t runLength(const Item& item, std::size_t from);
    bool balanced(const Item& item, std::size_t& position);
    bool frontier(const Item& item, std::size_t position) const noexcept;
    bool backReference(const Item& item, std::size_t& position);
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
    Capture _captures[kMaxCaptures] = {};
};

constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

// Where `needle` first occurs in `haystack` at or after `from`, or kNotFound.
std::size_t findPlain(WorkMeter& meter, const char* haystack, std::size_t haystackLength, std::size_t from,
                      const char* needle, std::size_t needleLength);

// True when the pattern has none of the characters that make it a pattern (find then searches
// for it as plain text, and a malformed part is never looked at).
bool isPlainText(const char* pattern, std::size_t length) noexcept;

}  // namespace sluice::plugins::lua_pattern
