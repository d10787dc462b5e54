// SPDX-License-Identifier: MIT

#include "filter/kernel_filter.hpp"

#include <algorithm>
#include <array>
#include <limits>

namespace checksyncd {

namespace {

// Offsets in the IP header (RFC 791 3.1, RFC 8200 3).
constexpr std::int32_t kVersionOffset = 0;   // the version is the first nibble
constexpr std::int32_t kV4SourceOffset = 12; // IPv4 source address
constexpr std::int32_t kV6SourceOffset = 8;  // IPv6 source address, 4 words

constexpr std::uint32_t kPassAll = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint32_t kDrop = 0;

// A conditional jump reaches at most 255 instructions ahead (its jt and
// jf are 8 bits); a jump to the shared "pass" return that would be
// farther goes to an island, a copy of it placed in between. Margin for
// the block being emitted and the tail.
constexpr std::size_t kMaxJump = 255;
constexpr std::size_t kIslandMargin = 16;

struct V4Prefix {
	std::uint32_t network = 0; // host order, host bits clear
	unsigned length = 0;       // 0..32

	auto operator<=>(const V4Prefix &) const = default;
	bool contains(const V4Prefix &other) const
	{
		return length <= other.length && (other.network & mask()) == network;
	}
	std::uint32_t mask() const { return length == 0 ? 0 : ~std::uint32_t{0} << (32 - length); }
};

struct V6Prefix {
	std::array<std::uint32_t, 4> words{}; // host order, host bits clear
	unsigned length = 0;                  // 0..128

	auto operator<=>(const V6Prefix &) const = default;
	static std::uint32_t wordMask(unsigned bits) // of the first `bits` of a word
	{
		return bits == 0    ? 0
		       : bits >= 32 ? ~std::uint32_t{0}
				    : ~std::uint32_t{0} << (32 - bits);
	}
	std::uint32_t maskOf(std::size_t word) const
	{
		const unsigned start = static_cast<unsigned>(word) * 32;
		return length <= start ? 0 : wordMask(length - start);
	}
	bool contains(const V6Prefix &other) const
	{
		if (length > other.length)
			return false;
		for (std::size_t i = 0; i < 4; i++) {
			if ((other.words[i] & maskOf(i)) != words[i])
				return false;
		}
		return true;
	}
};

std::uint32_t wordAt(const std::array<std::uint8_t, 16> &bytes, std::size_t word)
{
	return std::uint32_t{bytes[4 * word]} << 24 | std::uint32_t{bytes[4 * word + 1]} << 16 |
	       std::uint32_t{bytes[4 * word + 2]} << 8 | std::uint32_t{bytes[4 * word + 3]};
}

// ::ffff:0.0.0.0, where IpAddress keeps IPv4 addresses.
constexpr std::array<std::uint32_t, 4> kMappedWords = {0, 0, 0x0000ffff, 0};

struct Lists {
	std::vector<V4Prefix> v4; // compared with an IPv4 (or IPv4-mapped) source
	std::vector<V6Prefix> v6; // compared with any other IPv6 source
};

// Drops what another entry already covers, so nothing is compared twice.
template<typename Prefix>
void keepOutermost(std::vector<Prefix> &prefixes)
{
	std::sort(prefixes.begin(), prefixes.end(), [](const Prefix &a, const Prefix &b) {
		return a.length != b.length ? a.length < b.length : a < b;
	});
	std::vector<Prefix> kept;
	for (const Prefix &prefix : prefixes) {
		if (std::none_of(kept.begin(), kept.end(),
				 [&](const Prefix &outer) { return outer.contains(prefix); }))
			kept.push_back(prefix);
	}
	prefixes = std::move(kept);
}

Lists listsOf(const std::vector<IpPrefix> &pass, KernelProgram::Precision precision)
{
	const bool coarse = precision == KernelProgram::Precision::Coarse;
	Lists lists;
	for (const IpPrefix &prefix : pass) {
		const std::array<std::uint8_t, 16> &bytes = prefix.network().bytes();
		if (prefix.network().isV4()) {
			V4Prefix v4{wordAt(bytes, 3),
				    std::min(prefix.length(), coarse ? 24u : 32u)};
			v4.network &= v4.mask();
			lists.v4.push_back(v4);
			continue;
		}
		V6Prefix v6;
		v6.length = std::min(prefix.length(), coarse ? 64u : 128u);
		for (std::size_t i = 0; i < 4; i++)
			v6.words[i] = wordAt(bytes, i) & v6.maskOf(i);
		// A prefix that covers the IPv4-mapped addresses (::/0, ::/64)
		// covers every IPv4 source, as IpPrefix::contains() says.
		V6Prefix mapped{kMappedWords, 96};
		if (v6.contains(mapped))
			lists.v4.push_back(V4Prefix{0, 0});
		lists.v6.push_back(v6);
	}
	keepOutermost(lists.v4);
	keepOutermost(lists.v6);
	return lists;
}

sock_filter statement(std::uint16_t code, std::uint32_t k)
{
	return sock_filter{code, 0, 0, k};
}

sock_filter jump(std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf)
{
	return sock_filter{code, jt, jf, k};
}

// Emits the program, with the jumps to "pass" (a `ret` of the whole
// datagram) resolved to the nearest island ahead, and the long
// unconditional jumps (BPF_JA, 32-bit offsets) to labels.
class Assembler
{
public:
	enum Label : std::size_t {
		V4Load,
		V4Compare,
		Rest,
		kLabels
	};

	explicit Assembler(std::int32_t networkOffset) : offset_(networkOffset) {}

	void load(std::uint16_t size, std::int32_t at)
	{
		code_.push_back(statement(BPF_LD | size | BPF_ABS,
					  static_cast<std::uint32_t>(offset_ + at)));
	}
	void emit(sock_filter instruction) { code_.push_back(instruction); }
	void jumpTo(Label label)
	{
		jumps_.push_back({code_.size(), label});
		code_.push_back(statement(BPF_JMP | BPF_JA, 0));
	}
	void place(Label label) { labels_[label] = code_.size(); }
	// A comparison whose true branch passes the datagram; jf as given.
	void passIfEqual(std::uint32_t k, std::uint8_t jf)
	{
		passJumps_.push_back(code_.size());
		code_.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, k, 0, jf));
	}
	// Before a block of `length` instructions: an island if the pending
	// jumps to "pass" would no longer reach past it.
	void reserve(std::size_t length)
	{
		if (passJumps_.empty() ||
		    code_.size() + length + kIslandMargin - passJumps_.front() <= kMaxJump)
			return;
		code_.push_back(statement(BPF_JMP | BPF_JA, 1)); // over the island
		resolvePass();
		code_.push_back(statement(BPF_RET | BPF_K, kPassAll));
	}
	std::size_t size() const { return code_.size(); }

	// The last instruction: pass.
	std::vector<sock_filter> finish()
	{
		resolvePass();
		code_.push_back(statement(BPF_RET | BPF_K, kPassAll));
		for (const auto &[at, label] : jumps_)
			code_[at].k = static_cast<std::uint32_t>(labels_[label] - at - 1);
		return std::move(code_);
	}

private:
	// Every pending jump to "pass" goes to the instruction emitted next.
	void resolvePass()
	{
		for (std::size_t at : passJumps_)
			code_[at].jt = static_cast<std::uint8_t>(code_.size() - at - 1);
		passJumps_.clear();
	}

	std::int32_t offset_;
	std::vector<sock_filter> code_;
	std::vector<std::size_t> passJumps_;
	std::vector<std::pair<std::size_t, Label>> jumps_;
	std::array<std::size_t, kLabels> labels_{};
};

// A holds the IPv4 source.
void emitV4(Assembler &as, const std::vector<V4Prefix> &prefixes)
{
	if (!prefixes.empty() && prefixes.front().length == 0) {
		// 0.0.0.0/0 (the only entry then): every IPv4 source.
		as.reserve(2);
		as.emit(statement(BPF_LD | BPF_IMM, 0));
		as.passIfEqual(0, 0);
		return;
	}
	// Single addresses first, with A as loaded; then the others per
	// length, each masking a copy kept in X.
	bool saved = false;
	for (auto group = prefixes.rbegin(); group != prefixes.rend();) {
		const unsigned length = group->length;
		if (length != 32) {
			if (!saved) {
				as.emit(statement(BPF_MISC | BPF_TAX, 0));
				saved = true;
			}
			as.reserve(3);
			as.emit(statement(BPF_MISC | BPF_TXA, 0));
			as.emit(statement(BPF_ALU | BPF_AND | BPF_K, group->mask()));
		}
		for (; group != prefixes.rend() && group->length == length; ++group) {
			as.reserve(1);
			as.passIfEqual(group->network, 0);
		}
	}
}

// The IPv6 source's words are in M[0..3]; compared per prefix.
void emitV6(Assembler &as, const std::vector<V6Prefix> &prefixes)
{
	for (const V6Prefix &prefix : prefixes) {
		const std::size_t words = (prefix.length + 31) / 32;
		if (words == 0) {
			// ::/0: every IPv6 source.
			as.reserve(2);
			as.emit(statement(BPF_LD | BPF_IMM, 0));
			as.passIfEqual(0, 0);
			return;
		}
		std::size_t length = 0;
		for (std::size_t i = 0; i < words; i++)
			length += prefix.maskOf(i) == ~std::uint32_t{0} ? 2 : 3;
		as.reserve(length);
		std::size_t left = length;
		for (std::size_t i = 0; i < words; i++) {
			as.emit(statement(BPF_LD | BPF_MEM, static_cast<std::uint32_t>(i)));
			left--;
			if (prefix.maskOf(i) != ~std::uint32_t{0}) {
				as.emit(statement(BPF_ALU | BPF_AND | BPF_K, prefix.maskOf(i)));
				left--;
			}
			left--; // the comparison
			const auto skip = static_cast<std::uint8_t>(left);
			if (i + 1 == words)
				as.passIfEqual(prefix.words[i], skip);
			else
				as.emit(jump(BPF_JMP | BPF_JEQ | BPF_K, prefix.words[i], 0, skip));
		}
	}
}

std::vector<sock_filter> assemble(const Lists &lists, SocketFamily family, std::uint32_t restOneIn,
				  std::int32_t networkOffset)
{
	Assembler as(networkOffset);
	if (family == SocketFamily::V6) {
		as.load(BPF_B, kVersionOffset);
		as.emit(statement(BPF_ALU | BPF_AND | BPF_K, 0xf0));
		as.emit(jump(BPF_JMP | BPF_JEQ | BPF_K, 0x40, 0, 1));
		as.jumpTo(Assembler::V4Load);
		// The source's words go to the scratch memory M[0..3] once: a
		// load from the packet at a negative offset (SKF_NET_OFF) becomes
		// a call in the kernel's translation to eBPF, a load from M one
		// instruction, and the kernel charges a program's translated
		// size to the socket's option memory (net.core.optmem_max, 20 KiB
		// on Debian 12: about 70 IPv6 addresses read from the packet
		// each time, measured, against hundreds from M).
		for (std::size_t i = 0; i < 4; i++) {
			as.load(BPF_W, kV6SourceOffset + static_cast<std::int32_t>(4 * i));
			as.emit(statement(BPF_ST, static_cast<std::uint32_t>(i)));
		}
		// IPv4-mapped: the last word is the IPv4 source.
		for (std::size_t i = 0; i < 3; i++) {
			as.emit(statement(BPF_LD | BPF_MEM, static_cast<std::uint32_t>(i)));
			as.emit(jump(BPF_JMP | BPF_JEQ | BPF_K, kMappedWords[i], 0,
				     static_cast<std::uint8_t>(2 * (2 - i) + 2)));
		}
		as.emit(statement(BPF_LD | BPF_MEM, 3));
		as.jumpTo(Assembler::V4Compare);
		emitV6(as, lists.v6);
		as.jumpTo(Assembler::Rest);
	}
	as.place(Assembler::V4Load);
	as.load(BPF_W, kV4SourceOffset);
	as.place(Assembler::V4Compare);
	emitV4(as, lists.v4);

	as.reserve(4);
	as.place(Assembler::Rest);
	if (restOneIn == 0) {
		as.emit(statement(BPF_RET | BPF_K, kDrop));
	} else {
		// Passes when the random number is below 2^32 / restOneIn.
		const auto threshold = static_cast<std::uint32_t>((std::uint64_t{1} << 32) /
								  restOneIn);
		as.emit(statement(BPF_LD | BPF_W | BPF_ABS,
				  static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)));
		as.emit(jump(BPF_JMP | BPF_JGE | BPF_K, threshold, 0, 1));
		as.emit(statement(BPF_RET | BPF_K, kDrop));
	}
	return as.finish();
}

} // namespace

KernelProgram buildKernelFilter(const KernelFilterSpec &spec, SocketFamily family,
				std::size_t maxInstructions, std::int32_t networkOffset)
{
	KernelProgram program;
	if (spec.restOneIn == 1)
		return program; // everything passes
	for (KernelProgram::Precision precision :
	     {KernelProgram::Precision::Exact, KernelProgram::Precision::Coarse}) {
		Lists lists = listsOf(spec.pass, precision);
		if (family == SocketFamily::V4)
			lists.v6.clear();
		std::vector<sock_filter> code = assemble(lists, family, spec.restOneIn,
							 networkOffset);
		if (code.size() <= maxInstructions) {
			program.code = std::move(code);
			program.precision = precision;
			program.prefixes = lists.v4.size() + lists.v6.size();
			return program;
		}
	}
	program.precision = KernelProgram::Precision::Unfit;
	return program;
}

IpPrefix ipPrefixOf(const SourcePrefix &source)
{
	const IpAddress address = IpAddress::fromBytes(source.bytes);
	return IpPrefix(address, address.isV4() ? 32 : 64);
}

bool OverloadGovernor::observe(const Reading &reading, std::uint64_t nowMs)
{
	const bool pressed = reading.overflowed ||
			     (reading.queueFill && *reading.queueFill >= kRaiseFill);
	const bool calm = !reading.overflowed &&
			  (!reading.queueFill || *reading.queueFill < kCalm) &&
			  (!reading.busy || *reading.busy < kCalm);
	if (!calm)
		calmSinceMs_.reset();
	else if (!calmSinceMs_)
		calmSinceMs_ = nowMs;

	if (pressed) {
		if (level_ >= kMaxLevel || (level_ > 0 && nowMs - changedMs_ < kRaiseHoldMs))
			return false;
		level_++;
		changedMs_ = nowMs;
		return true;
	}
	if (level_ > 0 && calmSinceMs_ && nowMs - *calmSinceMs_ >= kCalmMs &&
	    nowMs - changedMs_ >= kCalmMs) {
		level_--;
		changedMs_ = nowMs;
		calmSinceMs_ = nowMs;
		return true;
	}
	return false;
}

} // namespace checksyncd
