//! The decoder's memory map: where each vector sits in the vector memory ([`Layout`]) and
//! where each matrix sits in the weight ROM ([`WeightMap`]). The program
//! (`super::program`) and [`super::limits::check_fits`] both read them from here.

use llamahdl_golden::{QMatrix, QuantModel};
use llamahdl_model::Config;

/// Word offsets of the vectors in the vector memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub x: usize,
    pub qkv: usize,
    pub att: usize,
    pub h1: usize,
    pub hb: usize,
    pub logits: usize,
    /// Words in all.
    pub total: usize,
}

impl Layout {
    pub fn new(qm: &QuantModel) -> Layout {
        Self::for_config(&qm.config)
    }

    /// The layout for shape `c`.
    pub fn for_config(c: &Config) -> Layout {
        let mut at = 0;
        let mut take = |n: usize| {
            let a = at;
            at += n;
            a
        };
        let x = take(c.dim);
        let qkv = take(c.qkv_rows());
        let att = take(c.dim);
        let h1 = take(c.hidden_dim);
        let hb = take(c.hidden_dim);
        let logits = take(c.vocab_size);
        Layout {
            x,
            qkv,
            att,
            h1,
            hb,
            logits,
            total: at,
        }
    }
}

/// Where a matrix sits in the weight ROM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatRef {
    /// First word.
    pub word: usize,
    /// First row (index into the row scales).
    pub row: usize,
    pub rows: usize,
    /// Words per row.
    pub beats: usize,
}

/// One layer's matrices in the ROM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerMats {
    pub wqkv: MatRef,
    pub wo: MatRef,
    pub w1: MatRef,
    pub w3: MatRef,
    pub w2: MatRef,
}

/// The weight ROM (laid out by [`crate::units::matvec::rom_words`]: each matrix row by
/// row, `ceil(cols / lanes)` words of `lanes` int8 per row): every matrix, in this order: per layer Wqkv, Wo, W1, W3, W2; then the
/// embedding; then the classifier when it is separate.
pub struct WeightMap<'a> {
    pub mats: Vec<&'a QMatrix>,
    pub layers: Vec<LayerMats>,
    pub embedding: MatRef,
    pub classifier: MatRef,
}

impl<'a> WeightMap<'a> {
    pub fn new(qm: &'a QuantModel, lanes: usize) -> WeightMap<'a> {
        let mut mats: Vec<&QMatrix> = vec![];
        let (mut word, mut row) = (0, 0);
        let mut add = |m: &'a QMatrix, mats: &mut Vec<&'a QMatrix>| {
            let beats = m.cols.div_ceil(lanes);
            let r = MatRef {
                word,
                row,
                rows: m.rows,
                beats,
            };
            word += m.rows * beats;
            row += m.rows;
            mats.push(m);
            r
        };
        let mut layers = vec![];
        for l in &qm.layers {
            layers.push(LayerMats {
                wqkv: add(&l.wqkv, &mut mats),
                wo: add(&l.wo, &mut mats),
                w1: add(&l.w1, &mut mats),
                w3: add(&l.w3, &mut mats),
                w2: add(&l.w2, &mut mats),
            });
        }
        let embedding = add(&qm.embedding, &mut mats);
        let classifier = match &qm.wcls {
            Some(w) => add(w, &mut mats),
            None => embedding,
        };
        WeightMap {
            mats,
            layers,
            embedding,
            classifier,
        }
    }
}

/// The matrices of shape `c` as the per-token program names them when the weights stream
/// from DRAM: rows and words per row (`lanes` lanes), no ROM positions (`word`, `row` 0).
pub fn stream_refs(c: &Config, lanes: usize) -> (Vec<LayerMats>, MatRef, MatRef) {
    let m = |rows: usize, cols: usize| MatRef {
        word: 0,
        row: 0,
        rows,
        beats: cols.div_ceil(lanes),
    };
    let layer = LayerMats {
        wqkv: m(c.qkv_rows(), c.dim),
        wo: m(c.dim, c.dim),
        w1: m(c.hidden_dim, c.dim),
        w3: m(c.hidden_dim, c.dim),
        w2: m(c.dim, c.hidden_dim),
    };
    let emb = m(c.vocab_size, c.dim);
    (vec![layer; c.n_layers], emb, emb)
}
