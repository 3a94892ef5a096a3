//! The decoder's program: the vector-memory layout, the weight-ROM layout, and the list of
//! operations the sequencer runs for every token (`docs/architecture.md`). Generated in
//! Rust from the model shape when the design is built, held in a ROM in hardware.

use super::memory_map::{stream_refs, LayerMats, Layout, MatRef, WeightMap};
use llamahdl_golden::QuantModel;
use llamahdl_model::Config;

/// Operation codes (the `op` field): each names the unit that runs it; 0 ends the program.
pub mod opcode {
    /// End of the program: the position is done.
    pub const END: u16 = 0;
    /// RMSNorm of the residual stream into the matrix-vector input memory (RMSNorm unit).
    pub const RMSNORM: u16 = 1;
    /// Attention of one layer at the current position (attention unit).
    pub const ATTN: u16 = 2;
    /// A matrix-vector product (matrix-vector unit). Every opcode from here on runs there.
    pub const MATVEC: u16 = 3;
    /// The token's embedding row into the residual stream (matrix-vector unit).
    pub const EMBED: u16 = 4;
}

/// Flag bits of the `flags` field.
pub mod flag {
    /// A layer's QKV projection: reads the weight buffer instead of the ROM when the
    /// design runs with streamed weights.
    pub const QKV: u16 = 1;
    /// The classifier: its outputs are the logits (streamed out, argmax tracked).
    pub const LOGITS: u16 = 2;
    /// Tee: every vector-memory write of the operation to `c + i` is also written to the
    /// matrix-vector input memory at element `b + i`, and the block shift of what was
    /// written is tracked, so the next matrix-vector product reads it without a
    /// conversion pass.
    pub const TEE: u16 = 4;
    /// Matrix-vector post-operation: residual add into the destination.
    pub const ACC: u16 = 8;
    /// Matrix-vector post-operation: SwiGLU with the vector at `a`.
    pub const SWIGLU: u16 = 16;
    /// The operation rewrites the whole residual stream `x`: track its maximum magnitude.
    pub const XTRACK: u16 = 32;
}

/// Number of 16-bit fields of an instruction.
pub const FIELDS: usize = 12;

/// One instruction. Fields (all 16 bits): `op`, `a`, `b`, `c` (vector-memory addresses;
/// `b` is the XMem element base of a [`flag::TEE`] operation), `n` (element count),
/// `wbase` (ROM word), `rbase` (ROM row), `rows_m1`, `beats_m1`, `gbase` (gains; for
/// MATVEC the XMem word of its input), `gexp` (gains exponent, two's complement),
/// `layer` | `flags << 8`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Instr {
    pub op: u16,
    pub a: u16,
    pub b: u16,
    pub c: u16,
    pub n: u16,
    pub wbase: u16,
    pub rbase: u16,
    pub rows_m1: u16,
    pub beats_m1: u16,
    pub gbase: u16,
    pub gexp: i8,
    pub layer: u8,
    pub flags: u8,
}

impl Instr {
    pub fn word(&self) -> [u16; FIELDS] {
        [
            self.op,
            self.a,
            self.b,
            self.c,
            self.n,
            self.wbase,
            self.rbase,
            self.rows_m1,
            self.beats_m1,
            self.gbase,
            self.gexp as u8 as u16,
            self.layer as u16 | (self.flags as u16) << 8,
        ]
    }
}

/// `v` modulo 2^16 (an address offset that the hardware adds with wrap-around).
fn wrap(v: isize) -> u16 {
    v.rem_euclid(1 << 16) as u16
}

fn u(v: usize) -> u16 {
    assert!(v < 1 << 16, "program field {v} does not fit 16 bits");
    v as u16
}

/// The per-token program. `gains[i]` = (base, exponent) of RMSNorm gain vector `i`:
/// `2l` attention of layer `l`, `2l + 1` feed-forward, `2 n_layers` final.
pub fn build(qm: &QuantModel, lanes: usize, gains: &[(usize, i32)]) -> Vec<Instr> {
    let wm = WeightMap::new(qm, lanes);
    build_with(
        &qm.config,
        lanes,
        &wm.layers,
        wm.embedding,
        wm.classifier,
        gains,
        false,
    )
}

/// The per-token program of the design whose weights stream from DRAM (shape `c`): the
/// same operations, without ROM positions or gain vectors (the matrix-vector unit takes
/// every word from the stream, the RMSNorm unit its gains from its memory).
pub fn build_streaming(c: &Config, lanes: usize) -> Vec<Instr> {
    let (layers, emb, cls) = stream_refs(c, lanes);
    let gains = vec![(0, 0); 2 * c.n_layers + 1];
    build_with(c, lanes, &layers, emb, cls, &gains, true)
}

fn build_with(
    c: &Config,
    lanes: usize,
    layers: &[LayerMats],
    embedding: MatRef,
    classifier: MatRef,
    gains: &[(usize, i32)],
    streamed: bool,
) -> Vec<Instr> {
    let c = *c;
    // XMem banks: dim-sized inputs at word 0, the hidden-sized SwiGLU output after them
    // (W3 reads bank A while its outputs go to bank B).
    let bank_b = c.dim.div_ceil(lanes);
    let lay = Layout::for_config(&c);
    let mut p = vec![];
    // RMSNORM reads the RMSNorm unit's own copy of x and writes XMem bank A.
    let rms = |g: (usize, i32)| Instr {
        op: opcode::RMSNORM,
        n: u(c.dim),
        gbase: u(g.0),
        gexp: g.1 as i8,
        flags: flag::TEE as u8,
        ..Default::default()
    };
    let mv = |m: MatRef, dst: usize, flags: u16, layer: usize| Instr {
        op: opcode::MATVEC,
        c: u(dst),
        wbase: u(m.word),
        rbase: u(m.row),
        rows_m1: u(m.rows - 1),
        beats_m1: u(m.beats - 1),
        layer: layer as u8,
        flags: flags as u8,
        ..Default::default()
    };
    let attn = |layer: usize| Instr {
        op: opcode::ATTN,
        c: u(lay.att),
        layer: layer as u8,
        flags: flag::TEE as u8,
        ..Default::default()
    };
    p.push(Instr {
        op: opcode::EMBED,
        c: u(lay.x),
        n: u(c.dim),
        wbase: u(embedding.word),
        rbase: u(embedding.row),
        beats_m1: u(embedding.beats - 1),
        flags: flag::XTRACK as u8,
        ..Default::default()
    });
    for (l, m) in layers.iter().enumerate() {
        p.push(rms(gains[2 * l]));
        p.push(mv(m.wqkv, lay.qkv, flag::QKV, l));
        p.push(attn(l));
        p.push(mv(m.wo, lay.x, flag::ACC | flag::XTRACK, l));
        p.push(rms(gains[2 * l + 1]));
        // W1 and W3 as one operation (they are adjacent in the ROM, h1 and hb in the
        // vector memory): rows 0 .. hidden are W1's, written to h1; from row `n` = hidden
        // on, W3's, gated on W1's row `r - n` (`a + r`) and written to hb, teed into XMem
        // bank B (element `b + waddr - c`). Addresses add modulo 2^16.
        // (Streamed: W3's rows follow W1's in the stream.)
        assert!(
            streamed
                || (m.w3.word, m.w3.row)
                    == (m.w1.word + m.w1.rows * m.w1.beats, m.w1.row + m.w1.rows)
        );
        assert_eq!(
            (m.w3.rows, m.w3.beats, lay.hb),
            (m.w1.rows, m.w1.beats, lay.h1 + m.w1.rows)
        );
        let hid = m.w1.rows;
        let fused = MatRef {
            rows: 2 * hid,
            ..m.w1
        };
        p.push(Instr {
            a: wrap(lay.h1 as isize - hid as isize),
            b: wrap((bank_b * lanes) as isize - hid as isize),
            n: u(hid),
            ..mv(fused, lay.h1, flag::SWIGLU | flag::TEE, l)
        });
        p.push(Instr {
            gbase: u(bank_b),
            ..mv(m.w2, lay.x, flag::ACC | flag::XTRACK, l)
        });
    }
    p.push(rms(gains[2 * c.n_layers]));
    p.push(mv(classifier, lay.logits, flag::LOGITS, 0));
    p.push(Instr {
        op: opcode::END,
        ..Default::default()
    });
    p
}
