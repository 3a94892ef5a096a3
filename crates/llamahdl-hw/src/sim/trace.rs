//! Per-cycle values of a block's top-level ports ([`Trace`]), recorded by
//! [`crate::sim::Driver::with_trace`] and replayed against the emitted Verilog by
//! [`crate::cosim`].

use crate::bits::sign_extend;
use rust_hdl::prelude::*;
use std::collections::BTreeSet;

/// Direction of a top-level port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortDir {
    In,
    Out,
}

/// A top-level port of the block, named as in the emitted Verilog (`data$3` for element 3
/// of an array field `data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub width: usize,
    pub signed: bool,
    pub dir: PortDir,
}

/// Per-cycle values of a block's top-level ports, sampled before each rising edge.
///
/// Values are raw bit patterns (two's complement for signed ports), at most 128 bits wide.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Clock inputs (driven by the testbench, not recorded).
    pub clocks: Vec<String>,
    /// Recorded ports, inputs and outputs, in the block's field order.
    pub ports: Vec<Port>,
    /// `rows[cycle][port]`: the raw value.
    pub rows: Vec<Vec<u128>>,
    /// `(cycle, port)` pairs whose output is not compared.
    pub dont_care: BTreeSet<(usize, usize)>,
}

/// Visits the top scope of a block, collecting its ports and (optionally) their values.
struct PortProbe {
    depth: usize,
    namespace: Vec<String>,
    ports: Vec<Port>,
    clocks: Vec<String>,
    values: Vec<u128>,
    error: Option<String>,
}

impl PortProbe {
    fn new() -> Self {
        PortProbe {
            depth: 0,
            namespace: vec![],
            ports: vec![],
            clocks: vec![],
            values: vec![],
            error: None,
        }
    }
}

fn vcd_to_u128(v: &VCDValue, width: usize) -> std::result::Result<u128, String> {
    let bits: Vec<String> = match v {
        VCDValue::Single(b) => vec![b.to_string()],
        VCDValue::Vector(bs) => bs.iter().map(|b| b.to_string()).collect(),
        other => return Err(format!("unsupported port value {other:?}")),
    };
    if bits.len() != width {
        return Err(format!("value has {} bits, port {}", bits.len(), width));
    }
    let mut x = 0u128;
    for b in bits {
        x <<= 1;
        match b.as_str() {
            "0" => {}
            "1" => x |= 1,
            other => return Err(format!("bit value {other}")),
        }
    }
    Ok(x)
}

impl Probe for PortProbe {
    fn visit_start_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth += 1;
    }
    fn visit_start_namespace(&mut self, name: &str, _node: &dyn Block) {
        if self.depth == 1 {
            self.namespace.push(name.to_owned());
        }
    }
    fn visit_atom(&mut self, name: &str, signal: &dyn Atom) {
        if self.depth != 1 {
            return;
        }
        let dir = match signal.kind() {
            AtomKind::InputParameter => PortDir::In,
            AtomKind::OutputParameter | AtomKind::OutputPassthrough => PortDir::Out,
            AtomKind::InOutParameter => {
                self.error
                    .get_or_insert(format!("inout port {name} is not supported by cosim"));
                return;
            }
            _ => return,
        };
        let mut full = self.namespace.join("$");
        if !full.is_empty() {
            full.push('$');
        }
        full.push_str(name);
        let desc = signal.descriptor();
        if dir == PortDir::In && desc.name == "clock" {
            self.clocks.push(full);
            return;
        }
        let width = signal.bits();
        if width > 128 {
            self.error.get_or_insert(format!(
                "port {full} is {width} bits wide (cosim limit 128)"
            ));
            return;
        }
        match vcd_to_u128(&signal.vcd(), width) {
            Ok(v) => self.values.push(v),
            Err(e) => {
                self.error.get_or_insert(format!("port {full}: {e}"));
                self.values.push(0);
            }
        }
        self.ports.push(Port {
            name: full,
            width,
            signed: matches!(desc.kind, TypeKind::Signed(_)),
            dir,
        });
    }
    fn visit_end_namespace(&mut self, _name: &str, _node: &dyn Block) {
        if self.depth == 1 {
            self.namespace.pop();
        }
    }
    fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth -= 1;
    }
}

impl Trace {
    /// An empty trace with the ports of `uut` (panics on ports cosim cannot handle).
    pub fn for_block<B: Block>(uut: &B) -> Trace {
        let mut p = PortProbe::new();
        uut.accept("top", &mut p);
        if let Some(e) = p.error {
            panic!("Trace::for_block: {e}");
        }
        Trace {
            clocks: p.clocks,
            ports: p.ports,
            rows: vec![],
            dont_care: BTreeSet::new(),
        }
    }

    /// Append the current port values of `uut` as the next cycle.
    pub fn record<B: Block>(&mut self, uut: &B) {
        let mut p = PortProbe::new();
        uut.accept("top", &mut p);
        if let Some(e) = p.error {
            panic!("Trace::record: {e}");
        }
        assert_eq!(
            p.ports.len(),
            self.ports.len(),
            "ports changed while tracing"
        );
        self.rows.push(p.values);
    }

    /// Number of recorded cycles.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No cycles recorded.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Index of the port called `name` (panics if absent).
    pub fn port_index(&self, name: &str) -> usize {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .unwrap_or_else(|| panic!("no port {name} in trace"))
    }

    /// Raw value of `name` in `cycle`.
    pub fn raw(&self, cycle: usize, name: &str) -> u128 {
        self.rows[cycle][self.port_index(name)]
    }

    /// Value of `name` in `cycle`, sign-extended if the port is signed.
    pub fn value(&self, cycle: usize, name: &str) -> i128 {
        let i = self.port_index(name);
        let p = &self.ports[i];
        let raw = self.rows[cycle][i];
        if p.signed {
            sign_extend(raw, p.width)
        } else {
            raw as i128
        }
    }

    /// Do not compare output `name` in `cycle`.
    pub fn set_dont_care(&mut self, cycle: usize, name: &str) {
        let i = self.port_index(name);
        assert_eq!(self.ports[i].dir, PortDir::Out, "{name} is not an output");
        self.dont_care.insert((cycle, i));
    }
}
