#include "LuaPattern.h"

#include <cstdio>
#include <cstring>
#include <type_traits>

namespace sluice::plugins::lua_pattern {

static_assert(std::is_trivially_destructible_v<Matcher>, "a longjmp may pass over a Matcher");
static_assert(std::is_trivially_destructible_v<WorkMeter>, "a longjmp may pass over a WorkMeter");

namespace {

using Byte = unsigned char;

enum ChoiceKind : std::uint8_t {
    kRepeatLongest,   // * or +: `count` bytes taken; give one back on backtracking
    kRepeatShortest,  // -: rest tried after `position`; take one more on backtracking
    kTookOptional,    // ?: rest tried after taking one; try without it on backtracking
    kUndoOpen,        // ( or (): forget the capture
    kUndoClose,       // ): capture `item` is open again
};

// Character classes in the C locale, which is what liblua uses in sluiced.
bool inClass(Byte letter, Byte c) noexcept
{
    const bool upper = c >= 'A' && c <= 'Z';
    const bool lower = c >= 'a' && c <= 'z';
    const bool digit = c >= '0' && c <= '9';
    bool member = false;
    switch (letter | 0x20) {
        case 'a': member = upper || lower; break;
        case 'c': member = c < 0x20 || c == 0x7f; break;
        case 'd': member = digit; break;
        case 'g': member = c > 0x20 && c < 0x7f; break;
        case 'l': member = lower; break;
        case 'p': member = c > 0x20 && c < 0x7f && !upper && !lower && !digit; break;
        case 's': member = c == ' ' || (c >= '\t' && c <= '\r'); break;
        case 'u': member = upper; break;
        case 'w': member = upper || lower || digit; break;
        case 'x': member = digit || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); break;
        case 'z': member = c == 0; break;  // deprecated in Lua 5.2, still there
        default: return letter == c;  // an escaped character stands for itself
    }
    return (letter & 0x20) != 0 ? member : !member;
}

bool isClassLetter(Byte c) noexcept
{
    switch (c | 0x20) {
        case 'a': case 'c': case 'd': case 'g': case 'l': case 'p': case 's': case 'u': case 'w': case 'x': case 'z':
            return true;
        default:
            return false;
    }
}

// The bytes between the brackets of a set: escapes, ranges and single bytes.
bool inSet(const Byte* pattern, std::size_t from, std::size_t to, bool negated, Byte c) noexcept
{
    std::size_t at = from;
    while (at < to) {
        const Byte first = pattern[at];
        if (first == '%') {
            if (inClass(pattern[at + 1], c)) {
                return !negated;
            }
            at += 2;
        } else if (at + 2 < to && pattern[at + 1] == '-') {
            if (first <= c && c <= pattern[at + 2]) {
                return !negated;
            }
            at += 3;
        } else {
            if (first == c) {
                return !negated;
            }
            ++at;
        }
    }
    return negated;
}

// Reads the set whose '[' is at `open`. Its content starts after the '[' (and a '^'); the first
// content byte is never the closing bracket ("[]]" holds ']'), and '%' escapes the byte after it.
// Returns false when no closing bracket follows.
bool readSet(const Byte* pattern, std::size_t length, std::size_t open, Item& item, std::size_t& next) noexcept
{
    std::size_t at = open + 1;
    item.negated = at < length && pattern[at] == '^';
    if (item.negated) {
        ++at;
    }
    item.from = static_cast<std::uint32_t>(at);
    while (at < length) {
        if (pattern[at] == '%') {
            ++at;
            if (at == length) {
                return false;
            }
        }
        ++at;
        if (at < length && pattern[at] == ']') {
            item.to = static_cast<std::uint32_t>(at);
            next = at + 1;
            return true;
        }
    }
    return false;
}

Repeat repeatAt(const Byte* pattern, std::size_t length, std::size_t& at) noexcept
{
    if (at < length) {
        switch (pattern[at]) {
            case '*': ++at; return Repeat::ZeroOrMore;
            case '+': ++at; return Repeat::OneOrMore;
            case '-': ++at; return Repeat::Lazy;
            case '?': ++at; return Repeat::Optional;
            default: break;
        }
    }
    return Repeat::Once;
}

// Compiles one pattern, tracking the captures that matching would have opened at each point:
// in a pattern without alternatives that is the same on every path.
class Compiler {
public:
    Compiler(const Byte* pattern, std::size_t length, Item* items) noexcept
        : _pattern(pattern), _length(length), _items(items)
    {
    }

    std::size_t run(std::size_t at)
    {
        while (at < _length) {
            if (!step(at)) {
                break;
            }
        }
        return _count;
    }

private:
    enum class CaptureState : std::uint8_t { Open, Closed, Position };

    bool step(std::size_t& at)
    {
        const Byte c = _pattern[at];
        if (c == '(') {
            return openCapture(at);
        }
        if (c == ')') {
            return closeCapture(at);
        }
        if (c == '$' && at + 1 == _length) {
            ++at;
            return add(Item{Op::End, Repeat::Once, 0, 0, false, 0, 0});
        }
        if (c == '%' && at + 1 < _length) {
            const Byte d = _pattern[at + 1];
            if (d == 'b') {
                return balance(at);
            }
            if (d == 'f') {
                return frontier(at);
            }
            if (d >= '0' && d <= '9') {
                return backReference(at, d);
            }
        }
        return single(at);
    }

    bool openCapture(std::size_t& at)
    {
        if (_level == kMaxCaptures) {
            return malformed(PatternError::TooManyCaptures);
        }
        const bool position = at + 1 < _length && _pattern[at + 1] == ')';
        _captures[_level++] = position ? CaptureState::Position : CaptureState::Open;
        at += position ? 2 : 1;
        return add(Item{position ? Op::Position : Op::Open, Repeat::Once, 0, 0, false, 0, 0});
    }

    bool closeCapture(std::size_t& at)
    {
        int index = _level - 1;
        while (index >= 0 && _captures[index] != CaptureState::Open) {
            --index;
        }
        if (index < 0) {
            return malformed(PatternError::InvalidPatternCapture);
        }
        _captures[index] = CaptureState::Closed;
        ++at;
        return add(Item{Op::Close, Repeat::Once, static_cast<Byte>(index), 0, false, 0, 0});
    }

    bool balance(std::size_t& at)
    {
        if (_length - at < 4) {
            return malformed(PatternError::MissingBalanceArgs);
        }
        const Item item{Op::Balance, Repeat::Once, _pattern[at + 2], _pattern[at + 3], false, 0, 0};
        at += 4;
        return add(item);
    }

    bool frontier(std::size_t& at)
    {
        at += 2;
        if (at == _length || _pattern[at] != '[') {
            return malformed(PatternError::MissingFrontierSet);
        }
        Item item{Op::Frontier, Repeat::Once, 0, 0, false, 0, 0};
        if (!readSet(_pattern, _length, at, item, at)) {
            return malformed(PatternError::MissingBracket);
        }
        return add(item);
    }

    bool backReference(std::size_t& at, Byte digit)
    {
        const int index = digit - '1';
        if (index < 0 || index >= _level || _captures[index] == CaptureState::Open) {
            return malformed(PatternError::InvalidCaptureIndex, static_cast<Byte>(index + 1));
        }
        at += 2;
        return add(Item{Op::BackRef, Repeat::Once, static_cast<Byte>(index), 0, false, 0, 0});
    }

    bool single(std::size_t& at)
    {
        Item item{Op::Literal, Repeat::Once, _pattern[at], 0, false, 0, 0};
        switch (_pattern[at]) {
            case '%':
                if (at + 1 == _length) {
                    return malformed(PatternError::EndsWithEscape);
                }
                item.byte = _pattern[at + 1];
                item.op = isClassLetter(item.byte) ? Op::Class : Op::Literal;
                at += 2;
                break;
            case '[':
                item.op = Op::Set;
                if (!readSet(_pattern, _length, at, item, at)) {
                    return malformed(PatternError::MissingBracket);
                }
                break;
            case '.':
                item.op = Op::Any;
                ++at;
                break;
            default:
                ++at;
                break;
        }
        item.repeat = repeatAt(_pattern, _length, at);
        return add(item);
    }

    bool add(const Item& item) noexcept
    {
        _items[_count++] = item;
        return true;
    }

    bool malformed(PatternError error, Byte number = 0) noexcept
    {
        add(Item{Op::Malformed, Repeat::Once, static_cast<Byte>(error), number, false, 0, 0});
        return false;  // nothing after it can be reached
    }

    const Byte* _pattern;
    std::size_t _length;
    Item* _items;
    std::size_t _count = 0;
    int _level = 0;
    CaptureState _captures[kMaxCaptures] = {};
};

}  // namespace

Program compile(const char* pattern, std::size_t length, bool anchors, Item* items)
{
    Program program;
    program.pattern = reinterpret_cast<const Byte*>(pattern);
    program.items = items;
    program.anchored = anchors && length > 0 && pattern[0] == '^';
    Compiler compiler(program.pattern, length, items);
    program.count = compiler.run(program.anchored ? 1 : 0);
    return program;
}

void describe(const Item& malformed, char* out, std::size_t size)
{
    const char* text = "malformed pattern";
    switch (static_cast<PatternError>(malformed.byte)) {
        case PatternError::EndsWithEscape: text = "malformed pattern (ends with '%')"; break;
        case PatternError::MissingBracket: text = "malformed pattern (missing ']')"; break;
        case PatternError::MissingBalanceArgs: text = "malformed pattern (missing arguments to '%b')"; break;
        case PatternError::MissingFrontierSet: text = "missing '[' after '%f' in pattern"; break;
        case PatternError::InvalidCaptureIndex:
            std::snprintf(out, size, "invalid capture index %%%d", static_cast<int>(malformed.other));
            return;
        case PatternError::InvalidPatternCapture: text = "invalid pattern capture"; break;
        case PatternError::TooManyCaptures: text = "too many captures"; break;
    }
    std::snprintf(out, size, "%s", text);
}

bool isPlainText(const char* pattern, std::size_t length) noexcept
{
    for (std::size_t i = 0; i < length; ++i) {
        switch (pattern[i]) {
            case '^': case '$': case '*': case '+': case '?': case '.': case '(': case '[': case '%': case '-':
                return false;
            default:
                break;
        }
    }
    return true;
}

std::size_t findPlain(WorkMeter& meter, const char* haystack, std::size_t haystackLength, std::size_t from,
                      const char* needle, std::size_t needleLength)
{
    if (needleLength == 0) {
        return from <= haystackLength ? from : kNotFound;
    }
    if (from > haystackLength || needleLength > haystackLength - from) {
        return kNotFound;
    }
    const std::size_t lastStart = haystackLength - needleLength;
    std::size_t at = from;
    while (at <= lastStart) {
        const void* first = std::memchr(haystack + at, needle[0], lastStart - at + 1);
        if (first == nullptr) {
            meter.spend(lastStart - at + 1);
            return kNotFound;
        }
        const std::size_t candidate = static_cast<std::size_t>(static_cast<const char*>(first) - haystack);
        meter.spend(candidate - at + needleLength);
        if (std::memcmp(haystack + candidate + 1, needle + 1, needleLength - 1) == 0) {
            return candidate;
        }
        at = candidate + 1;
    }
    return kNotFound;
}

// --- matching

Matcher::Matcher(const Program& program, const char* subject, std::size_t length, Choice* stack,
                 WorkMeter& meter) noexcept
    : _program(program),
      _subject(reinterpret_cast<const Byte*>(subject)),
      _length(length),
      _stack(stack),
      _meter(meter)
{
}

bool Matcher::matchesOne(const Item& item, Byte c) const noexcept
{
    switch (item.op) {
        case Op::Literal: return c == item.byte;
        case Op::Any: return true;
        case Op::Class: return inClass(item.byte, c);
        default: return inSet(_program.pattern, item.from, item.to, item.negated, c);  // Op::Set
    }
}

std::size_t Matcher::runLength(const Item& item, std::size_t from)
{
    std::size_t end = from;
    if (item.op == Op::Any) {
        end = _length;
    } else {
        while (end < _length && matchesOne(item, _subject[end])) {
            ++end;
        }
    }
    _meter.spend(end - from);
    return end - from;
}

bool Matcher::balanced(const Item& item, std::size_t& position)
{
    if (position >= _length || _subject[position] != item.byte) {
        return false;
    }
    std::size_t depth = 1;
    for (std::size_t at = position + 1; at < _length; ++at) {
        const Byte c = _subject[at];
        if (c == item.other) {  // the closing byte first: %bxx closes at the next x
            if (--depth == 0) {
                _meter.spend(at - position);
                position = at + 1;
                return true;
            }
        } else if (c == item.byte) {
            ++depth;
        }
    }
    _meter.spend(_length - position);
    return false;
}

bool Matcher::frontier(const Item& item, std::size_t position) const noexcept
{
    // Before the subject's first byte and after its last, the frontier sees '\0'.
    const Byte before = position == 0 ? 0 : _subject[position - 1];
    const Byte at = position < _length ? _subject[position] : 0;
    return !inSet(_program.pattern, item.from, item.to, item.negated, before) &&
           inSet(_program.pattern, item.from, item.to, item.negated, at);
}

bool Matcher::backReference(const Item& item, std::size_t& position)
{
    const Capture& earlier = _captures[item.byte];
    if (earlier.length < 0) {
        return false;  // a position capture matches no text
    }
    const auto length = static_cast<std::size_t>(earlier.length);
    if (_length - position < length) {
        return false;
    }
    _meter.spend(length);
    if (std::memcmp(_subject + earlier.start, _subject + position, length) != 0) {
        return false;
    }
    position += length;
    return true;
}

// Undoes the most recent choices until one offers another way on; false when none is left.
bool Matcher::backtrack(std::size_t& item, std::size_t& position)
{
    while (_top > 0) {
        _meter.spend(1);
        Choice& choice = _stack[_top - 1];
        switch (choice.kind) {
            case kUndoOpen:
                --_level;
                break;
            case kUndoClose:
                _captures[choice.item].length = Capture::kUnfinished;
                break;
            case kRepeatLongest: {
                const std::size_t least = _program.items[choice.item].repeat == Repeat::OneOrMore ? 1 : 0;
                if (choice.count > least) {
                    --choice.count;
                    item = choice.item + 1;
                    position = choice.position + choice.count;
                    return true;
                }
                break;
            }
            case kRepeatShortest:
                if (choice.position < _length && matchesOne(_program.items[choice.item], _subject[choice.position])) {
                    ++choice.position;
                    item = choice.item + 1;
                    position = choice.position;
                    return true;
                }
                break;
            default:  // kTookOptional
                item = choice.item + 1;
                position = choice.position;
                --_top;
                return true;
        }
        --_top;
    }
    return false;
}

Matcher::Result Matcher::matchAt(std::size_t start)
{
    _top = 0;
    _level = 0;
    std::size_t item = 0;
    std::size_t position = start;
    const auto push = [this](std::size_t index, std::uint8_t kind, std::size_t at, std::size_t count) {
        _stack[_top++] = Choice{static_cast<std::uint32_t>(index), kind, at, count};
    };
    for (;;) {
        _meter.spend(1);
        if (item == _program.count) {
            _end = position;
            return Result::Matched;
        }
        const Item& current = _program.items[item];
        bool ok = true;
        switch (current.op) {
            case Op::Malformed:
                _malformed = &current;
                return Result::Malformed;
            case Op::Open:
            case Op::Position:
                _captures[_level] = Capture{position, current.op == Op::Open ? Capture::kUnfinished : Capture::kPosition};
                push(item, kUndoOpen, position, 0);
                ++_level;
                break;
            case Op::Close:
                _captures[current.byte].length = static_cast<std::ptrdiff_t>(position - _captures[current.byte].start);
                push(current.byte, kUndoClose, position, 0);
                break;
            case Op::End:
                ok = position == _length;
                break;
            case Op::Balance:
                ok = balanced(current, position);
                break;
            case Op::Frontier:
                ok = frontier(current, position);
                break;
            case Op::BackRef:
                ok = backReference(current, position);
                break;
            default: {  // one byte, repeated or not
                const bool one = position < _length && matchesOne(current, _subject[position]);
                switch (current.repeat) {
                    case Repeat::Once:
                        ok = one;
                        position += one ? 1 : 0;
                        break;
                    case Repeat::Optional:
                        if (one) {
                            push(item, kTookOptional, position, 0);
                            ++position;
                        }
                        break;
                    case Repeat::Lazy:
                        push(item, kRepeatShortest, position, 0);
                        break;
                    default: {  // ZeroOrMore, OneOrMore
                        const std::size_t taken = one ? 1 + runLength(current, position + 1) : 0;
                        ok = taken > 0 || current.repeat == Repeat::ZeroOrMore;
                        if (ok) {
                            push(item, kRepeatLongest, position, taken);
                            position += taken;
                        }
                        break;
                    }
                }
                break;
            }
        }
        if (ok) {
            ++item;
        } else if (!backtrack(item, position)) {
            return Result::NoMatch;
        }
    }
}

}  // namespace sluice::plugins::lua_pattern
