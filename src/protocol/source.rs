use super::*;
/// Source.
#[derive(Default, Debug)]
pub struct Source;
impl Protocol for Source {
    fn on_input(&mut self, input: &[u8], _out: &mut Vec<u8>, _cx: &mut Cx) -> Step {
        Step::cont(input.len())
    }
    fn wants_drained(&self) -> bool {
        true
    }
    fn on_drained(&mut self, out: &mut Vec<u8>, budget: usize, _cx: &mut Cx) -> Verdict {
        out.resize(out.len() + budget, b'x');
        Verdict::Continue
    }
    fn on_eof(&mut self, _out: &mut Vec<u8>, _cx: &mut Cx) -> Verdict {
        Verdict::Close
    }
}
