//! The WASM entry point: hydrates the islands (the dropzone) and nothing else; every other part of
//! every page is plain server-rendered HTML.

// `hydrate_islands` finds the islands by name at run time; without a use of the crate the linker
// would drop them and nothing would hydrate.
extern crate app;

#[cfg(target_arch = "wasm32")]
mod alloc;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: alloc::Classes = alloc::Classes::new();

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
