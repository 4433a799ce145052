//! tmp
use super::*;
/// cfg
#[derive(Default, Debug, Clone, Copy)]
pub struct HttpConfig {
    /// max
    pub max_head: usize,
}
/// Http.
#[derive(Default, Debug)]
pub struct Http;
impl Http {
    /// new
    pub fn new(_c: HttpConfig) -> Http {
        Http
    }
}
impl Protocol for Http {
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>, cx: &mut Cx) -> Step {
        let mut used = 0;
        while let Some(p) = memchr::memmem::find(&input[used..], b"\r\n\r\n") {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!");
            cx.requests += 1;
            used += p + 4;
        }
        Step::cont(used)
    }
}
