//! Shape parameters shared by the hardware blocks, and the fixed signal widths they use.
//!
//! Shapes are *runtime constants* of the blocks (rust-hdl `Constant<Bits<N>>` fields set
//! in the constructors), so one block type serves any model shape; only the lane count `L`
//! and the memory address widths are const generics. The counter widths below are fixed
//! and generous; [`Shape::new`] rejects a shape that does not fit them.
//!
//! The Q/K/V weight stream of one layer is the concatenated matrix
//! `[Wq (n_heads*head_dim rows); Wk (n_kv_heads*head_dim rows); Wv (n_kv_heads*head_dim rows)]`,
//! row by row; each row is `dim` int8 values sent as [`beats_per_row`] beats of `L` lanes
//! (the last beat zero-padded), plus one row scale (`scale_mant: u8` in 128..=255,
//! `scale_exp: i8`).

use crate::bits::ceil_log2;
use llamahdl_model::checkpoint::Config;

/// Bits of the beat-within-row counter: up to 4096 beats per row (dim 4096 at 1 lane/beat
/// would need more; dim 4096 at 8 lanes needs 512).
pub const BEAT_BITS: usize = 12;
/// Bits of the row-within-head counter: `head_dim <= 256` (LLaMA-2 uses 128).
pub const ROW_BITS: usize = 8;
/// Bits of the head-within-matrix counter: up to 256 heads per matrix.
pub const HEAD_BITS: usize = 8;
/// Bits of the matrix selector: 0 = Q, 1 = K, 2 = V (3 = past the end, after `load_done`).
pub const MATRIX_BITS: usize = 2;
/// Bits of the flat row index within the concatenated Q/K/V matrix. The counter also has to
/// hold `qkv_rows` itself (its value after the load), so `qkv_rows < 2^16`.
pub const ROW_INDEX_BITS: usize = 16;
/// Bits of the flat beat address (`row_index * beats + beat`): the on-chip address width,
/// so `qkv_rows * beats <= 2^ADDR_BITS` (a QKV buffer that large does not fit any on-chip
/// memory we target anyway).
pub use crate::bits::ADDR_BITS;

/// Matrix selector values carried on the `matrix` outputs.
pub const MATRIX_Q: u64 = 0;
/// Matrix selector for K.
pub const MATRIX_K: u64 = 1;
/// Matrix selector for V.
pub const MATRIX_V: u64 = 2;
/// Matrix selector after the last V row (the generator's state once `load_done` is high).
pub const MATRIX_DONE: u64 = 3;

/// Beats needed to carry one row of `dim` values on `lanes` lanes: `ceil(dim / lanes)`.
pub fn beats_per_row(dim: usize, lanes: usize) -> usize {
    assert!(lanes > 0, "lanes must be positive");
    dim.div_ceil(lanes)
}

/// Why a shape does not fit the fixed widths.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("invalid shape: {0}")]
    Invalid(String),
    #[error("{what} = {value} does not fit the hardware limit {limit}")]
    TooLarge {
        what: &'static str,
        value: usize,
        limit: usize,
    },
}

/// The Q/K/V streaming shape of one layer for a given lane count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub dim: usize,
    pub head_dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    /// Lanes per beat (`L`).
    pub lanes: usize,
    /// Beats per row: `ceil(dim / lanes)`.
    pub beats: usize,
    /// Rows of `[Wq; Wk; Wv]`: `head_dim * (n_heads + 2 * n_kv_heads)`.
    pub qkv_rows: usize,
    /// Beats of the whole stream: `qkv_rows * beats`.
    pub total_beats: usize,
}

/// Where one beat of the stream goes (the generator's outputs for that beat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeatPos {
    /// Beat within the row, `0..beats`.
    pub beat: usize,
    /// Row within the head, `0..head_dim`.
    pub row: usize,
    /// 0 = Q, 1 = K, 2 = V.
    pub matrix: usize,
    /// Head within the matrix.
    pub head: usize,
    /// Flat row index, `0..qkv_rows`.
    pub row_index: usize,
    /// Flat beat address, `row_index * beats + beat`.
    pub addr: usize,
    /// `beat == beats - 1`.
    pub last_beat: bool,
}

impl Shape {
    /// Derive and check the shape of `cfg` streamed on `lanes` lanes.
    pub fn new(cfg: &Config, lanes: usize) -> Result<Shape, ShapeError> {
        if lanes == 0 {
            return Err(ShapeError::Invalid("lanes must be positive".into()));
        }
        if cfg.dim == 0 || cfg.n_heads == 0 || cfg.n_kv_heads == 0 {
            return Err(ShapeError::Invalid(format!(
                "dim {}, n_heads {}, n_kv_heads {} must be positive",
                cfg.dim, cfg.n_heads, cfg.n_kv_heads
            )));
        }
        if cfg.head_dim() * cfg.n_heads != cfg.dim {
            return Err(ShapeError::Invalid(format!(
                "dim {} is not a multiple of n_heads {}",
                cfg.dim, cfg.n_heads
            )));
        }
        let head_dim = cfg.head_dim();
        let beats = beats_per_row(cfg.dim, lanes);
        let qkv_rows = cfg.qkv_rows();
        let total_beats = qkv_rows * beats;
        let checks: [(&'static str, usize, usize); 6] = [
            ("beats per row", beats, 1 << BEAT_BITS),
            ("head_dim", head_dim, 1 << ROW_BITS),
            ("n_heads", cfg.n_heads, 1 << HEAD_BITS),
            ("n_kv_heads", cfg.n_kv_heads, 1 << HEAD_BITS),
            ("qkv_rows", qkv_rows, (1 << ROW_INDEX_BITS) - 1),
            ("qkv_rows * beats", total_beats, 1 << ADDR_BITS),
        ];
        for (what, value, limit) in checks {
            if value > limit {
                return Err(ShapeError::TooLarge { what, value, limit });
            }
        }
        Ok(Shape {
            dim: cfg.dim,
            head_dim,
            n_heads: cfg.n_heads,
            n_kv_heads: cfg.n_kv_heads,
            lanes,
            beats,
            qkv_rows,
            total_beats,
        })
    }

    /// Beat-address bits a buffer needs: `ceil(log2(total_beats))` (at least 1).
    pub fn min_addr_bits(&self) -> usize {
        ceil_log2(self.total_beats).max(1)
    }

    /// Row-address bits a row-scale store needs: `ceil(log2(qkv_rows))` (at least 1).
    pub fn min_row_bits(&self) -> usize {
        ceil_log2(self.qkv_rows).max(1)
    }

    /// Heads of matrix `m` (0 = Q, 1 = K, 2 = V).
    pub fn heads_of(&self, matrix: usize) -> usize {
        if matrix == 0 {
            self.n_heads
        } else {
            self.n_kv_heads
        }
    }

    /// Position of row `row_index` of the concatenated matrix: `(matrix, head, row)`.
    pub fn row_pos(&self, row_index: usize) -> (usize, usize, usize) {
        assert!(row_index < self.qkv_rows, "row {row_index} out of range");
        let q_rows = self.n_heads * self.head_dim;
        let kv_rows = self.n_kv_heads * self.head_dim;
        let (matrix, r) = if row_index < q_rows {
            (0, row_index)
        } else if row_index < q_rows + kv_rows {
            (1, row_index - q_rows)
        } else {
            (2, row_index - q_rows - kv_rows)
        };
        (matrix, r / self.head_dim, r % self.head_dim)
    }

    /// The reference (software) position of beat number `n` of the stream (`n < total_beats`).
    pub fn beat_pos(&self, n: usize) -> BeatPos {
        assert!(n < self.total_beats, "beat {n} out of range");
        let row_index = n / self.beats;
        let beat = n % self.beats;
        let (matrix, head, row) = self.row_pos(row_index);
        BeatPos {
            beat,
            row,
            matrix,
            head,
            row_index,
            addr: n,
            last_beat: beat + 1 == self.beats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_round_up() {
        assert_eq!(beats_per_row(64, 64), 1);
        assert_eq!(beats_per_row(64, 8), 8);
        assert_eq!(beats_per_row(16, 3), 6);
        assert_eq!(beats_per_row(1, 8), 1);
    }

    #[test]
    fn shapes() {
        let s = Shape::new(&Config::STORIES260K, 8).unwrap();
        assert_eq!(
            (s.head_dim, s.beats, s.qkv_rows, s.total_beats),
            (8, 8, 128, 1024)
        );
        assert_eq!(s.min_addr_bits(), 10);
        assert_eq!(s.min_row_bits(), 7);
        let t = Shape::new(&Config::TINY, 16).unwrap();
        assert_eq!(
            (t.head_dim, t.beats, t.qkv_rows, t.total_beats),
            (4, 1, 32, 32)
        );
        let p = s.beat_pos(8 * 8 * 8 + 3); // first K row (row 64), beat 3
        assert_eq!(
            (p.matrix, p.head, p.row, p.row_index, p.beat),
            (1, 0, 0, 64, 3)
        );
        let p = s.beat_pos(1023);
        assert_eq!(
            (p.matrix, p.head, p.row, p.row_index, p.last_beat),
            (2, 3, 7, 127, true)
        );
    }

    #[test]
    fn too_large_is_rejected() {
        let mut c = Config::STORIES260K;
        c.dim = 8192;
        c.n_heads = 64;
        c.n_kv_heads = 64;
        assert!(matches!(
            Shape::new(&c, 1),
            Err(ShapeError::TooLarge { .. })
        ));
    }
}
