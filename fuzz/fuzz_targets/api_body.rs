#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| prisn_fuzz::targets::api_body(data));
