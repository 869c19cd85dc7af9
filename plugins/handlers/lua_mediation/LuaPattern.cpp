#include "LuaPattern.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstring>
#include <new>
#include <type_traits>

namespace sluice::plugins::lua_pattern {

static_assert(std::is_trivially_destructible_v<Matcher>, "a longjmp may pass over a Matcher");
static_assert(std::is_trivially_destructible_v<WorkMeter>, "a longjmp may pass over a WorkMeter");
static_assert(std::is_trivially_copyable_v<Item> && std::is_trivially_copyable_v<ByteSet>);

namespace {

using Byte = unsigned char;

// Sets with more content bytes than this become bitmaps; shorter ones are scanned, which costs
// no more than a few comparisons per test.
constexpr std::size_t kScannedSet = 6;
// Long scans (memchr, memcmp) go in pieces of this size, each reported to the meter.
constexpr std::size_t kScanPiece = 64 * 1024;

// Character classes in the C locale, which is what liblua uses in sluiced: one bit per class,
// looked up per byte.
constexpr std::uint16_t kAlpha = 1u << 0;
constexpr std::uint16_t kControl = 1u << 1;
constexpr std::uint16_t kDigit = 1u << 2;
constexpr std::uint16_t kGraphic = 1u << 3;
constexpr std::uint16_t kLower = 1u << 4;
constexpr std::uint16_t kPunctuation = 1u << 5;
constexpr std::uint16_t kSpace = 1u << 6;
constexpr std::uint16_t kUpper = 1u << 7;
constexpr std::uint16_t kAlnum = 1u << 8;
constexpr std::uint16_t kHexDigit = 1u << 9;
constexpr std::uint16_t kZero = 1u << 10;

constexpr std::uint16_t classesOf(unsigned c)
{
    const bool upper = c >= 'A' && c <= 'Z';
    const bool lower = c >= 'a' && c <= 'z';
    const bool digit = c >= '0' && c <= '9';
    const bool graphic = c > 0x20 && c < 0x7f;
    unsigned bits = 0;
    bits |= upper || lower ? kAlpha : 0;
    bits |= c < 0x20 || c == 0x7f ? kControl : 0;
    bits |= digit ? kDigit : 0;
    bits |= graphic ? kGraphic : 0;
    bits |= lower ? kLower : 0;
    bits |= graphic && !upper && !lower && !digit ? kPunctuation : 0;
    bits |= c == ' ' || (c >= '\t' && c <= '\r') ? kSpace : 0;
    bits |= upper ? kUpper : 0;
    bits |= upper || lower || digit ? kAlnum : 0;
    bits |= digit || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') ? kHexDigit : 0;
    bits |= c == 0 ? kZero : 0;  // %z: deprecated since Lua 5.2, still there
    return static_cast<std::uint16_t>(bits);
}

struct ClassTable {
    std::uint16_t bits[256] = {};
    constexpr ClassTable()
    {
        for (unsigned c = 0; c < 256; ++c) {
            bits[c] = classesOf(c);
        }
    }
};
constexpr ClassTable kClasses{};

// The class a letter after '%' names (either case), or 0 when it names none.
std::uint16_t classNamed(Byte letter) noexcept
{
    switch (letter | 0x20) {
        case 'a': return kAlpha;
        case 'c': return kControl;
        case 'd': return kDigit;
        case 'g': return kGraphic;
        case 'l': return kLower;
        case 'p': return kPunctuation;
        case 's': return kSpace;
        case 'u': return kUpper;
        case 'w': return kAlnum;
        case 'x': return kHexDigit;
        case 'z': return kZero;
        default: return 0;
    }
}

// An upper-case class letter is the complement.
bool inClass(std::uint16_t bit, bool complement, Byte c) noexcept
{
    return ((kClasses.bits[c] & bit) != 0) != complement;
}

// '%' followed by `escaped`, inside a set: a class, or the byte itself.
bool matchesEscape(Byte escaped, Byte c) noexcept
{
    const std::uint16_t bit = classNamed(escaped);
    return bit != 0 ? inClass(bit, (escaped & 0x20) == 0, c) : escaped == c;
}

// The content of a set, [from, to) of the pattern, element by element: an escape (a class or a
// byte), a range x-y, or one byte. `visit(kind, first, last)` returns true to stop.
enum class Element { Escape, Range, Single };

template <typename Visit>
bool forEachElement(const Byte* pattern, std::size_t from, std::size_t to, Visit&& visit)
{
    std::size_t at = from;
    while (at < to) {
        const Byte first = pattern[at];
        if (first == '%') {  // the compiler saw to it that a byte follows inside the set
            if (visit(Element::Escape, pattern[at + 1], pattern[at + 1])) {
                return true;
            }
            at += 2;
        } else if (at + 2 < to && pattern[at + 1] == '-') {
            if (visit(Element::Range, first, pattern[at + 2])) {
                return true;
            }
            at += 3;
        } else {
            if (visit(Element::Single, first, first)) {
                return true;
            }
            ++at;
        }
    }
    return false;
}

bool scanSet(const Byte* pattern, std::size_t from, std::size_t to, bool negated, Byte c) noexcept
{
    const bool found = forEachElement(pattern, from, to, [c](Element kind, Byte first, Byte last) {
        switch (kind) {
            case Element::Escape: return matchesEscape(first, c);
            case Element::Range: return first <= c && c <= last;
            default: return first == c;
        }
    });
    return found != negated;
}

ByteSet buildBitmap(const Byte* pattern, const Item& set)
{
    ByteSet bits;
    forEachElement(pattern, set.from, set.to, [&bits](Element kind, Byte first, Byte last) {
        if (kind == Element::Escape) {
            for (unsigned c = 0; c < 256; ++c) {
                if (matchesEscape(first, static_cast<Byte>(c))) {
                    bits.add(static_cast<Byte>(c));
                }
            }
        } else {
            for (unsigned c = first; c <= last; ++c) {  // a range y-x with y > x holds nothing
                bits.add(static_cast<Byte>(c));
            }
        }
        return false;
    });
    if (set.negated) {
        for (std::uint64_t& word : bits.words) {
            word = ~word;
        }
    }
    return bits;
}

// Reads the set whose '[' is at `open` into `item` (from, to, negated). Its content starts after
// the '[' (and a '^'); the first content byte is never the closing bracket ("[]]" holds ']'), and
// '%' escapes the byte after it. False when no closing bracket follows.
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

bool pushesChoice(const Item& item) noexcept
{
    return item.op == Op::Open || item.op == Op::Position || item.op == Op::Close || item.repeat != Repeat::Once;
}

// Compiles one pattern, or only measures it when `items` is null. It tracks the captures that
// matching would have opened at each point: in a pattern without alternatives that is the same on
// every path. Consecutive unescaped bytes without a repetition become one Text item.
class Compiler {
public:
    Compiler(const Byte* pattern, std::size_t length, Item* items, ByteSet* bitmaps) noexcept
        : _pattern(pattern), _length(length), _items(items), _bitmaps(bitmaps)
    {
    }

    Sizes run(std::size_t at)
    {
        while (at < _length && step(at)) {
        }
        flush();
        return _sizes;
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
            Item item;
            item.op = Op::End;
            return add(item);
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
        Item item;
        item.op = position ? Op::Position : Op::Open;
        return add(item);
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
        Item item;
        item.op = Op::Close;
        item.capture = static_cast<std::uint8_t>(index);
        return add(item);
    }

    bool balance(std::size_t& at)
    {
        if (_length - at < 4) {
            return malformed(PatternError::MissingBalanceArgs);
        }
        Item item;
        item.op = Op::Balance;
        item.byte = _pattern[at + 2];
        item.close = _pattern[at + 3];
        at += 4;
        return add(item);
    }

    bool frontier(std::size_t& at)
    {
        at += 2;
        if (at == _length || _pattern[at] != '[') {
            return malformed(PatternError::MissingFrontierSet);
        }
        Item item;
        item.op = Op::Frontier;
        if (!readSet(_pattern, _length, at, item, at)) {
            return malformed(PatternError::MissingBracket);
        }
        return add(item);
    }

    bool backReference(std::size_t& at, Byte digit)
    {
        const int index = digit - '1';
        if (index < 0 || index >= _level || _captures[index] == CaptureState::Open) {
            return malformed(PatternError::InvalidCaptureIndex, static_cast<std::uint8_t>(index + 1));
        }
        at += 2;
        Item item;
        item.op = Op::BackRef;
        item.capture = static_cast<std::uint8_t>(index);
        return add(item);
    }

    bool single(std::size_t& at)
    {
        const std::size_t start = at;
        Item item;
        item.op = Op::Literal;
        item.byte = _pattern[at];
        switch (_pattern[at]) {
            case '%':
                if (at + 1 == _length) {
                    return malformed(PatternError::EndsWithEscape);
                }
                item.byte = _pattern[at + 1];
                item.classBit = classNamed(item.byte);
                item.op = item.classBit != 0 ? Op::Class : Op::Literal;
                item.negated = item.classBit != 0 && (item.byte & 0x20) == 0;  // %A, %D ...: the complement
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
            default: ++at; break;
        }
        item.repeat = repeatAt(_pattern, _length, at);
        const bool unescaped = item.op == Op::Literal && at == start + 1;  // one byte, no repetition
        if (!unescaped) {
            return add(item);
        }
        if (_hasPending && _pending.op == Op::Text && _pending.to == start) {
            ++_pending.to;  // the next byte of the text
            return true;
        }
        item.op = Op::Text;
        item.from = static_cast<std::uint32_t>(start);
        item.to = static_cast<std::uint32_t>(at);
        return add(item);
    }

    // Items wait one step, so that a Text can grow.
    bool add(const Item& item)
    {
        flush();
        _pending = item;
        _hasPending = true;
        return true;
    }

    void flush()
    {
        if (!_hasPending) {
            return;
        }
        _hasPending = false;
        if ((_pending.op == Op::Set || _pending.op == Op::Frontier) && _pending.to - _pending.from > kScannedSet) {
            _pending.bitmap = static_cast<std::int32_t>(_sizes.bitmaps++);
            if (_bitmaps != nullptr) {
                new (&_bitmaps[_pending.bitmap]) ByteSet(buildBitmap(_pattern, _pending));
            }
        }
        _sizes.choices += pushesChoice(_pending) ? 1 : 0;
        if (_items != nullptr) {
            new (&_items[_sizes.items]) Item(_pending);
        }
        ++_sizes.items;
    }

    bool malformed(PatternError error, std::uint8_t number = 0)
    {
        Item item;
        item.op = Op::Malformed;
        item.error = error;
        item.errorNumber = number;
        add(item);
        return false;  // nothing after it can be reached
    }

    const Byte* _pattern;
    std::size_t _length;
    Item* _items;
    ByteSet* _bitmaps;
    Sizes _sizes;
    Item _pending;
    bool _hasPending = false;
    int _level = 0;
    CaptureState _captures[kMaxCaptures];  // [0, _level) are set
};

bool anchoredPattern(const char* pattern, std::size_t length, bool anchors) noexcept
{
    return anchors && length > 0 && pattern[0] == '^';
}

}  // namespace

Sizes measure(const char* pattern, std::size_t length, bool anchors)
{
    Compiler compiler(reinterpret_cast<const Byte*>(pattern), length, nullptr, nullptr);
    return compiler.run(anchoredPattern(pattern, length, anchors) ? 1 : 0);
}

Program compile(const char* pattern, std::size_t length, bool anchors, Item* items, ByteSet* bitmaps)
{
    Program program;
    program.pattern = reinterpret_cast<const Byte*>(pattern);
    program.items = items;
    program.bitmaps = bitmaps;
    program.anchored = anchoredPattern(pattern, length, anchors);
    Compiler compiler(program.pattern, length, items, bitmaps);
    program.sizes = compiler.run(program.anchored ? 1 : 0);
    return program;
}

void describe(const Item& malformed, char* out, std::size_t size)
{
    const char* text = "malformed pattern";
    switch (malformed.error) {
        case PatternError::None: break;
        case PatternError::EndsWithEscape: text = "malformed pattern (ends with '%')"; break;
        case PatternError::MissingBracket: text = "malformed pattern (missing ']')"; break;
        case PatternError::MissingBalanceArgs: text = "malformed pattern (missing arguments to '%b')"; break;
        case PatternError::MissingFrontierSet: text = "missing '[' after '%f' in pattern"; break;
        case PatternError::InvalidCaptureIndex:
            std::snprintf(out, size, "invalid capture index %%%d", static_cast<int>(malformed.errorNumber));
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
            case '^':
            case '$':
            case '*':
            case '+':
            case '?':
            case '.':
            case '(':
            case '[':
            case '%':
            case '-': return false;
            default: break;
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
        const std::size_t piece = std::min(lastStart - at + 1, kScanPiece);
        const void* first = std::memchr(haystack + at, needle[0], piece);
        if (first == nullptr) {
            meter.spend(piece);
            at += piece;
            continue;
        }
        const std::size_t candidate = static_cast<std::size_t>(static_cast<const char*>(first) - haystack);
        meter.spend(candidate - at + 1);
        std::size_t same = 1;  // compared in pieces too: the needle may be long
        while (same < needleLength) {
            const std::size_t n = std::min(needleLength - same, kScanPiece);
            meter.spend(n);
            if (std::memcmp(haystack + candidate + same, needle + same, n) != 0) {
                break;
            }
            same += n;
        }
        if (same == needleLength) {
            return candidate;
        }
        at = candidate + 1;
    }
    return kNotFound;
}

// --- matching

Matcher::Matcher(const Program& program, const char* subject, std::size_t length, Choice* stack,
                 WorkMeter& meter) noexcept
    : _program(program), _subject(reinterpret_cast<const Byte*>(subject)), _length(length), _stack(stack), _meter(meter)
{
}

bool Matcher::inSet(const Item& item, Byte c) const noexcept
{
    if (item.bitmap >= 0) {
        return _program.bitmaps[item.bitmap].has(c);
    }
    return scanSet(_program.pattern, item.from, item.to, item.negated, c);
}

bool Matcher::matchesOne(const Item& item, Byte c) const noexcept
{
    switch (item.op) {
        case Op::Literal: return c == item.byte;
        case Op::Any: return true;
        case Op::Class: return inClass(item.classBit, item.negated, c);
        default: return inSet(item, c);  // Op::Set
    }
}

std::size_t Matcher::runLength(const Item& item, std::size_t from)
{
    if (item.op == Op::Any) {
        _meter.spend(_length - from);
        return _length - from;
    }
    std::size_t end = from;
    while (end < _length && matchesOne(item, _subject[end])) {
        ++end;
        _meter.spend(1);
    }
    return end - from;
}

bool Matcher::text(const Item& item, std::size_t& position)
{
    const std::size_t length = item.to - item.from;
    if (_length - position < length) {
        return false;
    }
    _meter.spend(length);
    if (std::memcmp(_subject + position, _program.pattern + item.from, length) != 0) {
        return false;
    }
    position += length;
    return true;
}

bool Matcher::balanced(const Item& item, std::size_t& position)
{
    if (position >= _length || _subject[position] != item.byte) {
        return false;
    }
    std::size_t depth = 1;
    for (std::size_t at = position + 1; at < _length; ++at) {
        _meter.spend(1);
        const Byte c = _subject[at];
        if (c == item.close) {  // the closing byte first: %bxx closes at the next x
            if (--depth == 0) {
                position = at + 1;
                return true;
            }
        } else if (c == item.byte) {
            ++depth;
        }
    }
    return false;
}

bool Matcher::frontier(const Item& item, std::size_t position) const noexcept
{
    // Before the subject's first byte and after its last, the frontier sees '\0'.
    const Byte before = position == 0 ? 0 : _subject[position - 1];
    const Byte at = position < _length ? _subject[position] : 0;
    return !inSet(item, before) && inSet(item, at);
}

bool Matcher::backReference(const Item& item, std::size_t& position)
{
    const Capture& earlier = _captures[item.capture];
    if (earlier.length < 0) {
        return false;  // a position capture matches no text
    }
    const auto length = static_cast<std::size_t>(earlier.length);
    if (_length - position < length) {
        return false;
    }
    for (std::size_t same = 0; same < length;) {
        const std::size_t n = std::min(length - same, kScanPiece);
        _meter.spend(n);
        if (std::memcmp(_subject + earlier.start + same, _subject + position + same, n) != 0) {
            return false;
        }
        same += n;
    }
    position += length;
    return true;
}

void Matcher::push(std::size_t item, ChoiceKind kind, std::size_t position, std::size_t count) noexcept
{
    assert(_top < _program.sizes.choices);
    new (&_stack[_top++]) Choice{static_cast<std::uint32_t>(item), kind, position, count};
}

// Undoes the most recent choices until one offers another way on; false when none is left.
bool Matcher::backtrack(std::size_t& item, std::size_t& position)
{
    while (_top > 0) {
        _meter.spend(1);
        Choice& choice = _stack[_top - 1];
        const Item& made = _program.items[choice.item];
        switch (choice.kind) {
            case ChoiceKind::UndoOpen: --_level; break;
            case ChoiceKind::UndoClose: _captures[made.capture].length = Capture::kUnfinished; break;
            case ChoiceKind::RepeatLongest: {
                const std::size_t least = made.repeat == Repeat::OneOrMore ? 1 : 0;
                if (choice.count > least) {
                    --choice.count;
                    item = choice.item + 1;
                    position = choice.position + choice.count;
                    return true;
                }
                break;
            }
            case ChoiceKind::RepeatShortest:
                if (choice.position < _length && matchesOne(made, _subject[choice.position])) {
                    ++choice.position;
                    item = choice.item + 1;
                    position = choice.position;
                    return true;
                }
                break;
            case ChoiceKind::TookOptional:
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
    for (;;) {
        _meter.spend(1);
        if (item == _program.sizes.items) {
            _end = position;
            return Result::Matched;
        }
        const Item& current = _program.items[item];
        bool ok = true;
        switch (current.op) {
            case Op::Malformed: _malformed = &current; return Result::Malformed;
            case Op::Open:
            case Op::Position:
                _captures[_level] =
                    Capture{position, current.op == Op::Open ? Capture::kUnfinished : Capture::kPosition};
                push(item, ChoiceKind::UndoOpen, position, 0);
                ++_level;
                break;
            case Op::Close:
                _captures[current.capture].length =
                    static_cast<std::ptrdiff_t>(position - _captures[current.capture].start);
                push(item, ChoiceKind::UndoClose, position, 0);
                break;
            case Op::End: ok = position == _length; break;
            case Op::Text: ok = text(current, position); break;
            case Op::Balance: ok = balanced(current, position); break;
            case Op::Frontier: ok = frontier(current, position); break;
            case Op::BackRef: ok = backReference(current, position); break;
            default: {  // one byte, repeated or not
                const bool one = position < _length && matchesOne(current, _subject[position]);
                switch (current.repeat) {
                    case Repeat::Once:
                        ok = one;
                        position += one ? 1 : 0;
                        break;
                    case Repeat::Optional:
                        if (one) {
                            push(item, ChoiceKind::TookOptional, position, 0);
                            ++position;
                        }
                        break;
                    case Repeat::Lazy: push(item, ChoiceKind::RepeatShortest, position, 0); break;
                    case Repeat::ZeroOrMore:
                    case Repeat::OneOrMore: {
                        const std::size_t taken = one ? 1 + runLength(current, position + 1) : 0;
                        ok = taken > 0 || current.repeat == Repeat::ZeroOrMore;
                        if (ok) {
                            push(item, ChoiceKind::RepeatLongest, position, taken);
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
