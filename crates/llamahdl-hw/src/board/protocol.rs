//! The byte protocol between a host and the board's [`super::controller::Controller`]
//! over the UART (`docs/board-protocol.md` is the full description; these are its
//! constants, shared by the hardware and the host command).
//!
//! Host to board: one opcode byte, then its arguments (16-bit values little-endian).
//! Board to host: frames, each a tag byte and a fixed number of payload bytes
//! ([`frame_len`]). Every command ends with exactly one terminal frame.

/// `R`: reset the sequence (next position 0, error light off). Reply `r`.
pub const CMD_RESET: u8 = b'R';
/// `S`: status. Reply `s pos_lo pos_hi ctx_lo ctx_hi vocab_lo vocab_hi`: the next
/// position, the on-chip context, the vocabulary size.
pub const CMD_STATUS: u8 = b'S';
/// `T lo hi`: run the decoder on token `hi*256+lo` at the next position.
/// Reply `t lo hi` (the decoder's next token) or `e code`.
pub const CMD_TOKEN: u8 = b'T';
/// `G lo hi`: generate `n = hi*256+lo` tokens, each fed back as the next input (the first
/// input is the last `t` reply's token). Reply: up to `n` frames `t lo hi`, then `g`,
/// or an `e code` frame that ends the command early.
pub const CMD_GENERATE: u8 = b'G';

/// Reply tags.
pub const REP_RESET: u8 = b'r';
pub const REP_STATUS: u8 = b's';
pub const REP_TOKEN: u8 = b't';
pub const REP_GEN_DONE: u8 = b'g';
pub const REP_ERROR: u8 = b'e';

/// Error codes (payload of an `e` frame).
/// The position is at or past the on-chip context (the decoder refused it).
pub const ERR_CONTEXT: u8 = 1;
/// The opcode byte is none of the commands.
pub const ERR_UNKNOWN: u8 = 2;
/// A byte arrived with a bad stop bit (framing error); the command is abandoned.
pub const ERR_FRAMING: u8 = 3;
/// `G` with nothing to continue from (no `T` since the reset).
pub const ERR_NO_TOKEN: u8 = 4;
/// `T` with a token id not below the vocabulary size.
pub const ERR_TOKEN_RANGE: u8 = 5;

/// Payload bytes after the tag `tag`, or `None` for a tag the board never sends.
pub fn frame_len(tag: u8) -> Option<usize> {
    match tag {
        REP_RESET | REP_GEN_DONE => Some(0),
        REP_STATUS => Some(6),
        REP_TOKEN => Some(2),
        REP_ERROR => Some(1),
        _ => None,
    }
}

/// A one-line description of an error code.
pub fn error_text(code: u8) -> String {
    match code {
        ERR_CONTEXT => "position past the on-chip context".into(),
        ERR_UNKNOWN => "unknown command".into(),
        ERR_FRAMING => "UART framing error (bad stop bit)".into(),
        ERR_NO_TOKEN => "generate with no token to continue from".into(),
        ERR_TOKEN_RANGE => "token id not below the vocabulary size".into(),
        c => format!("unknown error code {c}"),
    }
}

/// One decoded reply frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Reset,
    Status { pos: u16, ctx: u16, vocab: u16 },
    Token(u16),
    GenDone,
    Error(u8),
}

impl Frame {
    /// Decode a frame from its tag and payload (`payload.len() == frame_len(tag)`).
    pub fn decode(tag: u8, payload: &[u8]) -> Result<Frame, String> {
        let want = frame_len(tag)
            .ok_or_else(|| format!("unexpected reply byte 0x{tag:02x} (not a frame tag)"))?;
        if payload.len() != want {
            return Err(format!(
                "frame '{}' needs {want} payload bytes, got {}",
                tag as char,
                payload.len()
            ));
        }
        let w = |i: usize| u16::from_le_bytes([payload[i], payload[i + 1]]);
        Ok(match tag {
            REP_RESET => Frame::Reset,
            REP_GEN_DONE => Frame::GenDone,
            REP_STATUS => Frame::Status {
                pos: w(0),
                ctx: w(2),
                vocab: w(4),
            },
            REP_TOKEN => Frame::Token(w(0)),
            _ => Frame::Error(payload[0]),
        })
    }

    /// Whether this frame ends a command.
    pub fn is_terminal_for(&self, cmd: u8) -> bool {
        match self {
            Frame::Token(_) => cmd == CMD_TOKEN,
            _ => true,
        }
    }
}

/// Split a byte stream into frames; `Err` on a byte that is not a tag. Bytes of an
/// unfinished last frame are left in `rest`.
pub fn parse_frames(bytes: &[u8]) -> Result<(Vec<Frame>, Vec<u8>), String> {
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        let tag = bytes[i];
        let n = frame_len(tag)
            .ok_or_else(|| format!("unexpected reply byte 0x{tag:02x} (not a frame tag)"))?;
        if i + 1 + n > bytes.len() {
            break;
        }
        out.push(Frame::decode(tag, &bytes[i + 1..i + 1 + n])?);
        i += 1 + n;
    }
    Ok((out, bytes[i..].to_vec()))
}
