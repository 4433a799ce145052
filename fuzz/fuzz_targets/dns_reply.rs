#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| readyloop_fuzz::dns_reply(data));
