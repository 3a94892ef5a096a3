//! Address bases of the attention unit: the cache word of (`layer`, `pos`), the first
//! cache word of the layer and the RoPE table row of `pos`, registered from the unit's
//! parameters; the refusal flags. A hand-written leaf (native `update()` plus a Verilog
//! body), co-simulated in `tests/attention.rs`.

use crate::bits::u2b;
use crate::bits::{Addr, Pos};
use rust_hdl::prelude::*;

/// Address bases for (`layer`, `pos`), registered every cycle: `rope_base = pos·head_dim`
/// valid one cycle after the parameters are, `row_layer = layer·context` and `row_pos =
/// row_layer + pos` (cache word addresses) two cycles after (the product, then the sum:
/// one carry chain per stage). Combinational: `pos_error = pos >= context`,
/// `bad = pos_error | layer >= n_layers`.
#[derive(LogicBlock)]
pub struct PosBases {
    pub clock: Signal<In, Clock>,
    pub layer: Signal<In, Bits<8>>,
    pub pos: Signal<In, Pos>,
    pub row_layer: Signal<Out, Bits<24>>,
    pub row_pos: Signal<Out, Bits<24>>,
    pub rope_base: Signal<Out, Addr>,
    pub pos_error: Signal<Out, Bit>,
    pub bad: Signal<Out, Bit>,
    _ctx: u64,
    _hd: u64,
    _nl: u64,
    /// The first stage: `layer·context` and `pos`.
    _s1: (u64, u64),
}

impl PosBases {
    pub fn new(n_layers: usize, ctx: usize, hd: usize) -> Self {
        assert!(n_layers * ctx < 1 << 24 && ctx * hd <= 1 << 16 && ctx < 1 << 16);
        assert!(n_layers <= 255);
        Self {
            clock: Default::default(),
            layer: Default::default(),
            pos: Default::default(),
            row_layer: Signal::new_with_default(Bits::default()),
            row_pos: Signal::new_with_default(Bits::default()),
            rope_base: Signal::new_with_default(Bits::default()),
            pos_error: Default::default(),
            bad: Default::default(),
            _ctx: ctx as u64,
            _hd: hd as u64,
            _nl: n_layers as u64,
            _s1: (0, 0),
        }
    }
}

impl Logic for PosBases {
    fn update(&mut self) {
        let l = self.layer.val().to_u64();
        let p = self.pos.val().to_u64();
        let perr = p >= self._ctx;
        self.pos_error.next = perr;
        self.bad.next = perr || l >= self._nl;
        if self.clock.pos_edge() {
            let (rl, p1) = self._s1;
            self.row_layer.next = u2b::<24>(rl);
            self.row_pos.next = u2b::<24>(rl + p1);
            self._s1 = (l * self._ctx, p);
            self.rope_base.next = u2b::<16>(p * self._hd);
        }
    }
    fn connect(&mut self) {
        self.row_layer.connect();
        self.row_pos.connect();
        self.rope_base.connect();
        self.pos_error.connect();
        self.bad.connect();
    }
    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "\
wire [23:0] l24 = {{16'd0, layer}};
wire [23:0] p24 = {{8'd0, pos}};
wire [15:0] rb = pos * 16'd{hd};
reg [23:0] rl1;
reg [23:0] p1;
initial begin
   rl1 = 24'd0;
   p1 = 24'd0;
   row_layer = 24'd0;
   row_pos = 24'd0;
   rope_base = 16'd0;
end
always @(*) pos_error = (pos >= 16'd{ctx});
always @(*) bad = (pos >= 16'd{ctx}) | (layer >= 8'd{nl});
always @(posedge clock) begin
   rl1 <= l24 * 24'd{ctx};
   p1 <= p24;
   row_layer <= rl1;
   row_pos <= rl1 + p1;
   rope_base <= rb;
end
",
            hd = self._hd,
            nl = self._nl,
            ctx = self._ctx,
        ))
    }
}
