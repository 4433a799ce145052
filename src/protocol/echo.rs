use super::*;
/// Echo.
#[derive(Default, Debug)]
pub struct Echo;
impl Protocol for Echo {
    fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>, _cx: &mut Cx) -> Step {
        out.extend_from_slice(input);
        Step::cont(input.len())
    }
}
