#![no_main]
use readyloop_fuzz::FramerKind;
libfuzzer_sys::fuzz_target!(|data: &[u8]| readyloop_fuzz::framing(FramerKind::Line, data));
