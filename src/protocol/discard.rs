use super::*;
/// Discard.
#[derive(Default, Debug)]
pub struct Discard;
impl Protocol for Discard {
    fn on_input(&mut self, input: &[u8], _out: &mut Vec<u8>, _cx: &mut Cx) -> Step {
        Step::cont(input.len())
    }
}
