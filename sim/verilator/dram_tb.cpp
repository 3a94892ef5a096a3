// dram_tb.cpp: Verilator testbench of the DRAM-streaming decoder (`llamahdl_dram_decoder.v`,
// `DramDecoder<L, DW>` in crates/llamahdl-hw/src/decoder/dram.rs) with an AXI4 read-only DRAM
// model in the loop.
//
// The DRAM model mirrors crates/llamahdl-hw/src/sim/axi_dram.rs (`AxiDram`) step for step,
// including its SplitMix64 generator and the order in which it draws from it, so that for the
// same settings and seed it answers the design exactly as the native model does: the memory
// is the weight image file placed at `--base` (a beat not wholly inside it answers DECERR
// with zero data), each burst's first beat comes `--latency` cycles after its AR handshake at
// the earliest, up to `--queue` bursts are accepted at once (ARREADY low while full), ARREADY
// is low with probability `--ar-stall` in a cycle and a gap precedes a beat that could be
// presented with probability `--r-stall`; `--error-at N:RESP` answers beat N with RESP. It
// checks the master as the native model does (INCR, arsize = bus width, aligned addresses,
// arlen <= 255, no 4 KiB crossing, AR held stable until ARREADY, RREADY high whenever RVALID
// unless `--allow-rready-low`) and reports every violation.
//
// The cycle is the native driver's (crates/llamahdl-hw/src/sim/driver.rs): the slave drives
// its outputs with the clock low, the design settles (eval), the slave observes the master's
// outputs and advances, the rising edge is evaluated. The protocol is the native engine's
// (crates/llamahdl-hw/src/sim/dram_engine.rs): `reset` is held for `--reset-cycles` cycles
// (the DRAM, in reset with it, answers nothing and does not advance), then the header check's
// verdict (`ready` / `image_error`) is waited for; then every command `run TOKEN POS` read
// from stdin (or `--commands FILE`) pulses `start` for one cycle with the token and position
// and runs until `done` (or until `axi_error`, or a cycle budget), collecting the streamed
// logits.
//
// Output (stdout, or `--out FILE`): one JSON object per line, flushed at once, so a caller can
// drive the bench interactively over pipes:
//   {"event":"header", ...}    the verdict and the cycles it took;
//   {"event":"position", ...}  per command: cycles, done, next_token, the logits by index
//                              (null for one never produced), the error outputs, this
//                              position's R beats and the design's own counters, the DRAM
//                              model's cumulative counts and its protocol violations;
//   {"event":"end", ...}       at `quit` or end of input: totals and simulation speed.
// Bad arguments or input: a line `dram_tb: <problem>` on stderr and exit status 2.
//
// Ports wider than 64 bits (rdata) are VlWide<N> in the Verilator model; they are filled
// generically from bytes, so any bus width works; the bus width is the rdata port's.

#include "Vdram.h"
#include "verilated.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace {

// ---- Generic port access (narrow ports are C/S/I/QData, wide ones VlWide<N>). ----

template <typename T>
void put_bytes(T& port, const uint8_t* b) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); i++) v |= (uint64_t)b[i] << (8 * i);
  port = (T)v;
}

template <std::size_t N>
void put_bytes(VlWide<N>& port, const uint8_t* b) {
  for (std::size_t k = 0; k < N; k++) {
    port[k] = (uint32_t)b[4 * k] | (uint32_t)b[4 * k + 1] << 8 | (uint32_t)b[4 * k + 2] << 16 |
              (uint32_t)b[4 * k + 3] << 24;
  }
}

template <typename T>
uint64_t get_u64(const T& port) {
  return (uint64_t)port;
}

template <std::size_t N>
uint64_t get_u64(const VlWide<N>& port) {
  return (uint64_t)port[0] | (N > 1 ? (uint64_t)port[1] << 32 : 0);
}

// Bytes of a bus word: the width of the model's rdata port.
constexpr std::size_t BUS_BYTES = sizeof(Vdram::rdata);
#ifdef DRAM_BUS_BITS
static_assert(DRAM_BUS_BITS == 8 * BUS_BYTES, "rdata is not DRAM_BUS_BITS wide");
#endif

[[noreturn]] void fail(const std::string& what) {
  fprintf(stderr, "dram_tb: %s\n", what.c_str());
  exit(2);
}

// ---- The DRAM model (crates/llamahdl-hw/src/sim/axi_dram.rs). ----

constexpr uint64_t RESP_OKAY = 0, RESP_DECERR = 3, BURST_INCR = 1;

// SplitMix64, as the native model's.
struct SplitMix {
  uint64_t s;
  uint64_t next() {
    s += 0x9e3779b97f4a7c15ULL;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // True with probability p; draws nothing when p is 0.
  bool gen_bool(double p) { return p > 0.0 && (double)(next() >> 11) < p * 9007199254740992.0; }
};

struct DramConfig {
  uint64_t latency = 1;
  size_t max_queue = 8;
  double ar_stall = 0.0, r_stall = 0.0;
  uint64_t seed = 1;
  bool error_at = false;
  uint64_t error_beat = 0, error_resp = 0;
  bool require_rready = true;
};

struct SlaveOut {
  bool arready = false, rvalid = false, rlast = false;
  uint64_t rresp = 0;
  std::vector<uint8_t> rdata = std::vector<uint8_t>(BUS_BYTES, 0);
};

struct MasterOut {
  bool arvalid = false, rready = false;
  uint64_t araddr = 0, arlen = 0, arsize = 0, arburst = 0;
};

struct Stats {
  uint64_t cycles = 0, beats = 0, r_gap_cycles = 0, r_backpressure = 0, bursts = 0;
  uint64_t error_beats = 0;
  bool any_beat = false;
  uint64_t first_beat = 0, last_beat = 0;
  size_t max_in_flight = 0;
};

struct Violation {
  uint64_t cycle;
  std::string what;
};

class Dram {
 public:
  Dram(const DramConfig& cfg, uint64_t base, std::vector<uint8_t> mem)
      : cfg_(cfg), base_(base), mem_(std::move(mem)), rng_{cfg.seed} {}

  // The slave's outputs this cycle (before the design settles).
  const SlaveOut& drive() {
    arready_ = queue_.size() < cfg_.max_queue && !rng_.gen_bool(cfg_.ar_stall);
    gap_now_ = false;
    if (!held_) {
      bool ready = !queue_.empty() && cycle_ >= queue_.front().cycle + cfg_.latency;
      if (ready) {
        if (rng_.gen_bool(cfg_.r_stall)) {
          gap_now_ = true;
        } else {
          beat(queue_.front().next_addr, queue_.front().left == 1);
          held_ = true;
        }
      }
    }
    out_.rvalid = held_;
    if (!held_) {
      out_.rlast = false;
      out_.rresp = 0;
      std::fill(out_.rdata.begin(), out_.rdata.end(), 0);
    }
    out_.arready = arready_;
    return out_;
  }

  // This cycle's handshakes and checks, then one cycle on.
  void observe(const MasterOut& m) {
    if (prev_ar_valid_) {
      if (!m.arvalid) {
        violation("arvalid dropped before arready");
      } else if (prev_ar_.araddr != m.araddr || prev_ar_.arlen != m.arlen ||
                 prev_ar_.arsize != m.arsize || prev_ar_.arburst != m.arburst) {
        char b[160];
        snprintf(b, sizeof b, "AR payload changed while waiting: %#" PRIx64 "/%" PRIu64
                 " -> %#" PRIx64 "/%" PRIu64, prev_ar_.araddr, prev_ar_.arlen, m.araddr, m.arlen);
        violation(b);
      }
    }
    prev_ar_valid_ = false;
    if (m.arvalid) {
      check_ar(m);
      if (arready_) {
        queue_.push_back(Active{cycle_, m.araddr, m.arlen + 1});
        stats.bursts++;
        if (queue_.size() > stats.max_in_flight) stats.max_in_flight = queue_.size();
      } else {
        prev_ar_ = m;
        prev_ar_valid_ = true;
      }
    }
    if (gap_now_) stats.r_gap_cycles++;
    if (held_) {
      if (m.rready) {
        held_ = false;
        stats.beats++;
        if (!stats.any_beat) stats.first_beat = cycle_;
        stats.any_beat = true;
        stats.last_beat = cycle_;
        Active& a = queue_.front();
        a.left--;
        a.next_addr += BUS_BYTES;
        if (a.left == 0) queue_.pop_front();
      } else {
        stats.r_backpressure++;
        if (cfg_.require_rready) violation("rready low while rvalid is high");
      }
    }
    stats.cycles++;
    cycle_++;
  }

  Stats stats;
  std::vector<Violation> violations;  // the first ones
  uint64_t violation_count = 0;

 private:
  struct Active {
    uint64_t cycle, next_addr, left;
  };

  void violation(const std::string& what) {
    violation_count++;
    if (violations.size() < 16) violations.push_back(Violation{cycle_, what});
  }

  void beat(uint64_t addr, bool last) {
    uint64_t rresp = RESP_OKAY;
    uint64_t size = mem_.size();
    bool inside = addr >= base_ && addr - base_ <= size && size - (addr - base_) >= BUS_BYTES;
    if (inside) {
      memcpy(out_.rdata.data(), &mem_[addr - base_], BUS_BYTES);
    } else {
      std::fill(out_.rdata.begin(), out_.rdata.end(), 0);
      rresp = RESP_DECERR;
    }
    if (cfg_.error_at && cfg_.error_beat == beat_no_) rresp = cfg_.error_resp;
    if (rresp != RESP_OKAY) stats.error_beats++;
    beat_no_++;
    out_.rresp = rresp;
    out_.rlast = last;
  }

  void check_ar(const MasterOut& m) {
    const uint64_t w = BUS_BYTES;
    char b[160];
    if (m.arburst != BURST_INCR) {
      snprintf(b, sizeof b, "arburst %" PRIu64 " is not INCR", m.arburst);
      violation(b);
    }
    if ((1ULL << m.arsize) != w) {
      snprintf(b, sizeof b, "arsize %" PRIu64 " is not the bus width (%" PRIu64 " bytes)",
               m.arsize, w);
      violation(b);
    }
    if (m.araddr % w != 0) {
      snprintf(b, sizeof b, "araddr %#" PRIx64 " not aligned to %" PRIu64 " bytes", m.araddr, w);
      violation(b);
    }
    if (m.arlen > 255) {
      snprintf(b, sizeof b, "arlen %" PRIu64 " > 255", m.arlen);
      violation(b);
    }
    if (m.araddr % 4096 + (m.arlen + 1) * w > 4096) {
      snprintf(b, sizeof b, "burst at %#" PRIx64 " of %" PRIu64 " beats crosses a 4 KiB boundary",
               m.araddr, m.arlen + 1);
      violation(b);
    }
  }

  DramConfig cfg_;
  uint64_t base_;
  std::vector<uint8_t> mem_;
  SplitMix rng_;
  uint64_t cycle_ = 0, beat_no_ = 0;
  std::deque<Active> queue_;
  bool held_ = false, arready_ = false, gap_now_ = false, prev_ar_valid_ = false;
  MasterOut prev_ar_;
  SlaveOut out_;
};

// ---- A tiny JSON writer. ----

class Json {
 public:
  explicit Json(FILE* f) : f_(f) {}
  void begin() { fputc('{', f_); first_ = true; }
  void end_line() { fputs("}\n", f_); fflush(f_); }
  void key(const char* k) {
    if (!first_) fputc(',', f_);
    first_ = false;
    fprintf(f_, "\"%s\":", k);
  }
  void u(const char* k, uint64_t v) { key(k); fprintf(f_, "%" PRIu64, v); }
  void i(const char* k, int64_t v) { key(k); fprintf(f_, "%" PRId64, v); }
  void b(const char* k, bool v) { key(k); fputs(v ? "true" : "false", f_); }
  void d(const char* k, double v) { key(k); fprintf(f_, "%.17g", v); }
  void s(const char* k, const std::string& v) { key(k); str(v); }
  void str(const std::string& v) {
    fputc('"', f_);
    for (unsigned char c : v) {
      if (c == '"' || c == '\\') fprintf(f_, "\\%c", c);
      else if (c < 0x20) fprintf(f_, "\\u%04x", c);
      else fputc(c, f_);
    }
    fputc('"', f_);
  }
  // An object-valued member: key, then begin(); close with close().
  void open(const char* k) { key(k); fputc('{', f_); first_ = true; }
  void close() { fputc('}', f_); first_ = false; }
  FILE* file() { return f_; }
  void raw(const char* k) { key(k); }

 private:
  FILE* f_;
  bool first_ = true;
};

void write_stats(Json& j, const Stats& s, const Dram& dram) {
  j.open("dram");
  j.u("cycles", s.cycles);
  j.u("beats", s.beats);
  j.key("first_beat");
  if (s.any_beat) fprintf(j.file(), "%" PRIu64, s.first_beat); else fputs("null", j.file());
  j.key("last_beat");
  if (s.any_beat) fprintf(j.file(), "%" PRIu64, s.last_beat); else fputs("null", j.file());
  j.u("r_gap_cycles", s.r_gap_cycles);
  j.u("r_backpressure", s.r_backpressure);
  j.u("bursts", s.bursts);
  j.u("max_in_flight", s.max_in_flight);
  j.u("error_beats", s.error_beats);
  j.close();
  j.u("violation_count", dram.violation_count);
  j.raw("violations");
  fputc('[', j.file());
  for (size_t k = 0; k < dram.violations.size(); k++) {
    if (k) fputc(',', j.file());
    fprintf(j.file(), "{\"cycle\":%" PRIu64 ",\"what\":", dram.violations[k].cycle);
    j.str(dram.violations[k].what);
    fputc('}', j.file());
  }
  fputc(']', j.file());
}

// ---- The bench. ----

struct Args {
  std::string image, out, commands;
  uint64_t base = 0, reset_cycles = 4, vocab = 0;
  uint64_t header_budget = 1ULL << 20, position_budget = 1ULL << 34;
  DramConfig dram;
};

uint64_t parse_u64(const char* flag, const char* v) {
  char* end = nullptr;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 0);
  if (errno || end == v || *end || v[0] == '-') fail(std::string(flag) + ": not a number: " + v);
  return x;
}

double parse_prob(const char* flag, const char* v) {
  char* end = nullptr;
  double x = strtod(v, &end);
  if (end == v || *end || !(x >= 0.0 && x <= 1.0))
    fail(std::string(flag) + ": not a probability between 0 and 1: " + v);
  return x;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int k = 1; k < argc; k++) {
    std::string f = argv[k];
    if (f == "--allow-rready-low") {
      a.dram.require_rready = false;
      continue;
    }
    if (k + 1 >= argc) fail(f + " needs a value (or is unknown)");
    const char* v = argv[++k];
    if (f == "--image") a.image = v;
    else if (f == "--out") a.out = v;
    else if (f == "--commands") a.commands = v;
    else if (f == "--base") a.base = parse_u64("--base", v);
    else if (f == "--reset-cycles") a.reset_cycles = parse_u64("--reset-cycles", v);
    else if (f == "--vocab") a.vocab = parse_u64("--vocab", v);
    else if (f == "--header-budget") a.header_budget = parse_u64("--header-budget", v);
    else if (f == "--position-budget") a.position_budget = parse_u64("--position-budget", v);
    else if (f == "--latency") a.dram.latency = parse_u64("--latency", v);
    else if (f == "--queue") a.dram.max_queue = parse_u64("--queue", v);
    else if (f == "--ar-stall") a.dram.ar_stall = parse_prob("--ar-stall", v);
    else if (f == "--r-stall") a.dram.r_stall = parse_prob("--r-stall", v);
    else if (f == "--seed") a.dram.seed = parse_u64("--seed", v);
    else if (f == "--error-at") {
      std::string s = v;
      size_t c = s.find(':');
      if (c == std::string::npos) fail("--error-at takes BEAT:RESP");
      a.dram.error_at = true;
      a.dram.error_beat = parse_u64("--error-at", s.substr(0, c).c_str());
      a.dram.error_resp = parse_u64("--error-at", s.substr(c + 1).c_str());
      if (a.dram.error_resp > 3) fail("--error-at: RESP is 0 to 3");
    } else fail("unknown argument " + f);
  }
  if (a.image.empty()) fail("--image FILE is required");
  if (a.vocab == 0 || a.vocab > 65536) fail("--vocab N (1 to 65536) is required");
  if (a.dram.latency < 1) fail("--latency must be at least 1");
  if (a.dram.max_queue < 1) fail("--queue must be at least 1");
  return a;
}

std::vector<uint8_t> read_file(const std::string& path) {
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) fail("cannot open the image " + path + ": " + strerror(errno));
  std::vector<uint8_t> data;
  uint8_t chunk[1 << 16];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) data.insert(data.end(), chunk, chunk + got);
  bool bad = ferror(f);
  fclose(f);
  if (bad) fail("cannot read the image " + path);
  return data;
}

class Bench {
 public:
  Bench(const Args& a, std::vector<uint8_t> image)
      : ctx_(new VerilatedContext), top_(new Vdram{ctx_.get(), "dut"}),
        dram_(a.dram, a.base, std::move(image)) {
    top_->clock = 0;
    top_->reset = 0;
    top_->start = 0;
    top_->eval();
  }

  ~Bench() { top_->final(); }

  // Reset held for n cycles; the DRAM, in reset too, answers nothing and does not advance.
  void reset(uint64_t n) {
    if (n == 0) return;
    top_->reset = 1;
    top_->arready = 0;
    top_->rvalid = 0;
    top_->rlast = 0;
    top_->rresp = 0;
    std::vector<uint8_t> zero(BUS_BYTES, 0);
    put_bytes(top_->rdata, zero.data());
    for (uint64_t k = 0; k < n; k++) {
      top_->clock = 0;
      top_->eval();
      top_->clock = 1;
      top_->eval();
    }
    top_->reset = 0;
  }

  struct Seen {
    bool done = false, logit = false;
    uint32_t index = 0;
    int32_t value = 0;
  };

  // One clock cycle with the DRAM in the loop.
  Seen cycle() {
    const SlaveOut& s = dram_.drive();
    top_->clock = 0;
    top_->arready = s.arready;
    top_->rvalid = s.rvalid;
    put_bytes(top_->rdata, s.rdata.data());
    top_->rresp = (uint8_t)s.rresp;
    top_->rlast = s.rlast;
    top_->eval();
    MasterOut m;
    m.arvalid = top_->arvalid;
    m.araddr = get_u64(top_->araddr);
    m.arlen = get_u64(top_->arlen);
    m.arsize = get_u64(top_->arsize);
    m.arburst = get_u64(top_->arburst);
    m.rready = top_->rready;
    if (s.rvalid && m.rready) beats_++;
    Seen seen;
    seen.done = top_->done;
    seen.logit = top_->logit_valid;
    seen.index = (uint32_t)get_u64(top_->logit_index);
    seen.value = (int32_t)(uint32_t)get_u64(top_->logit_value);
    dram_.observe(m);
    top_->clock = 1;
    top_->eval();
    cycles_++;
    return seen;
  }

  void header(Json& j, uint64_t budget) {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t c0 = cycles_;
    bool timeout = false;
    while (!(top_->ready || top_->image_error)) {
      if (cycles_ - c0 > budget) {
        timeout = true;
        break;
      }
      cycle();
    }
    sim_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    j.begin();
    j.s("event", "header");
    j.u("bus_bits", 8 * BUS_BYTES);
    j.u("cycles", cycles_ - c0);
    j.b("timeout", timeout);
    j.b("ready", top_->ready);
    j.b("image_error", top_->image_error);
    j.u("bad_word", get_u64(top_->bad_word));
    j.u("beats", beats_);
    j.end_line();
  }

  void position(Json& j, uint32_t token, uint32_t pos, uint64_t vocab, uint64_t budget) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<int32_t> logits(vocab, 0);
    std::vector<uint8_t> have(vocab, 0);
    uint64_t outside = 0, repeated = 0;
    auto take = [&](const Seen& s) {
      if (!s.logit) return;
      if (s.index >= vocab) {
        outside++;
        return;
      }
      if (have[s.index]) repeated++;
      have[s.index] = 1;
      logits[s.index] = s.value;
    };
    uint64_t c0 = cycles_, b0 = beats_, gaps0 = dram_.stats.r_gap_cycles;
    uint32_t sb0 = (uint32_t)get_u64(top_->stat_beats), sy0 = (uint32_t)get_u64(top_->stat_busy);
    top_->token = token;
    top_->pos = pos;
    top_->start = 1;
    Seen s = cycle();
    top_->start = 0;
    take(s);
    bool done = s.done, timeout = false, axi_stop = false;
    while (!done) {
      if (cycles_ - c0 > budget) {
        timeout = true;
        break;
      }
      if (top_->axi_error) {
        axi_stop = true;
        break;
      }
      s = cycle();
      take(s);
      done = s.done;
    }
    sim_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    j.begin();
    j.s("event", "position");
    j.u("token", token);
    j.u("pos", pos);
    j.u("cycles", cycles_ - c0);
    j.b("done", done);
    j.b("timeout", timeout);
    j.b("axi_stop", axi_stop);
    j.b("axi_error", top_->axi_error);
    j.b("crc_error", top_->crc_error);
    j.u("bad_region", get_u64(top_->bad_region));
    j.b("image_error", top_->image_error);
    j.u("bad_word", get_u64(top_->bad_word));
    j.b("ready", top_->ready);
    j.b("pos_error", top_->pos_error);
    j.u("next_token", get_u64(top_->next_token));
    j.u("beats", beats_ - b0);
    j.u("stat_beats", (uint32_t)((uint32_t)get_u64(top_->stat_beats) - sb0));
    j.u("stat_busy", (uint32_t)((uint32_t)get_u64(top_->stat_busy) - sy0));
    j.u("gap_cycles", dram_.stats.r_gap_cycles - gaps0);
    j.u("total_cycles", cycles_);
    j.u("total_beats", beats_);
    j.d("sim_seconds", sim_seconds_);
    j.u("logits_outside", outside);
    j.u("logits_repeated", repeated);
    write_stats(j, dram_.stats, dram_);
    j.raw("logits");
    FILE* f = j.file();
    fputc('[', f);
    for (uint64_t k = 0; k < vocab; k++) {
      if (k) fputc(',', f);
      if (have[k]) fprintf(f, "%" PRId32, logits[k]);
      else fputs("null", f);
    }
    fputc(']', f);
    j.end_line();
  }

  void end(Json& j) {
    j.begin();
    j.s("event", "end");
    j.u("total_cycles", cycles_);
    j.u("total_beats", beats_);
    j.d("sim_seconds", sim_seconds_);
    j.d("cycles_per_second", sim_seconds_ > 0 ? cycles_ / sim_seconds_ : 0.0);
    write_stats(j, dram_.stats, dram_);
    j.end_line();
  }

 private:
  std::unique_ptr<VerilatedContext> ctx_;
  std::unique_ptr<Vdram> top_;
  Dram dram_;
  uint64_t cycles_ = 0, beats_ = 0;
  double sim_seconds_ = 0.0;
};

}  // namespace

int main(int argc, char** argv) {
  Args a = parse_args(argc, argv);
  std::vector<uint8_t> image = read_file(a.image);
  FILE* in = stdin;
  if (!a.commands.empty()) {
    in = fopen(a.commands.c_str(), "r");
    if (!in) fail("cannot open the command file " + a.commands + ": " + strerror(errno));
  }
  FILE* out = stdout;
  if (!a.out.empty()) {
    out = fopen(a.out.c_str(), "w");
    if (!out) fail("cannot write " + a.out + ": " + strerror(errno));
  }
  Json j(out);
  Bench bench(a, std::move(image));
  bench.reset(a.reset_cycles);
  bench.header(j, a.header_budget);
  char line[256];
  unsigned long line_no = 0;
  while (fgets(line, sizeof line, in)) {
    line_no++;
    char cmd[16];
    unsigned long long token = 0, pos = 0;
    char extra;
    int n = sscanf(line, "%15s %llu %llu %c", cmd, &token, &pos, &extra);
    if (n <= 0) continue;  // blank line
    std::string c = cmd;
    if (c == "quit") break;
    if (c != "run" || n != 3) fail("command line " + std::to_string(line_no) +
                                   ": expected `run TOKEN POS` or `quit`, got: " + line);
    if (token >= 65536 || pos >= 65536)
      fail("command line " + std::to_string(line_no) + ": token and position are 16-bit");
    bench.position(j, (uint32_t)token, (uint32_t)pos, a.vocab, a.position_budget);
  }
  bench.end(j);
  if (out != stdout) {
    if (fclose(out) != 0) fail("cannot write " + a.out);
  }
  return 0;
}
