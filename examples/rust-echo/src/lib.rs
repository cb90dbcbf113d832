//! rust-echo: every message on its socket goes back to the connection that
//! sent it, byte for byte, as plugins/echo does in C++. Written in Rust
//! against the C ABI of plugin.h (bindings in ffi.rs, by hand).
//!
//! Config, [plugins.rust-echo] in the host's TOML:
//!   socket = "..."   the websocket to serve (default "rust-echo")
//!
//! What it shows:
//!   - the entry symbol, the descriptor and the ABI note, so the host checks
//!     the ABI before any code of this library runs (plugin.h, LIFECYCLE);
//!   - ABI 1.1 where the host has it: the reply goes out with ws_send_start
//!     (no wait for the membrane inside a handler) and a failure's text with
//!     event_set_error; on a 1.0 host, ws_send and set_error;
//!   - no panic crosses into the host: each callback catches it and returns
//!     a status (a panic unwinding into C would be undefined behaviour).
mod ffi;

use ffi::*;
use std::os::raw::{c_char, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

const DEFAULT_SOCKET: &str = "rust-echo";

/// The plugin's state: made by init, freed by shutdown. The host passes it
/// back as each handler's user_data.
struct Echo {
    host: *mut PluginInstance,
    api: *const HostApi,
    socket: Vec<u8>,
    has_send_start: bool,
    has_event_set_error: bool,
}

impl Echo {
    fn api(&self) -> &HostApi {
        // Valid, and unchanged, from init() until shutdown() returns.
        unsafe { &*self.api }
    }

    fn last_error(&self) -> Vec<u8> {
        unsafe {
            match self.api().last_error {
                Some(f) => std::ffi::CStr::from_ptr(f()).to_bytes().to_vec(),
                None => Vec::new(),
            }
        }
    }

    /// The failure text of the handler call that got `event`.
    unsafe fn fail(&self, event: *mut Event, text: &[u8]) {
        let api = self.api();
        if self.has_event_set_error {
            if let Some(f) = api.event_set_error {
                f(event, text.as_ptr() as *const c_char, text.len());
                return;
            }
        }
        if let Some(f) = api.set_error {
            f(self.host, text.as_ptr() as *const c_char, text.len());
        }
    }

    unsafe fn on_message(&self, event: *mut Event) -> Status {
        let api = self.api();
        let (conn, body) = match (api.event_connection_id, api.event_message) {
            (Some(id), Some(message)) => (id(event), message(event)),
            _ => return NITRIC_ERR_INTERNAL,
        };
        let socket = Str::lend(&self.socket);
        let status = match (self.has_send_start, api.ws_send_start, api.ws_send) {
            (true, Some(start), _) => start(self.host, socket, conn, body, ptr::null_mut()),
            (_, _, Some(send)) => send(self.host, socket, conn, body),
            _ => NITRIC_ERR_INTERNAL,
        };
        if status != NITRIC_OK {
            let mut text = b"echo failed: ".to_vec();
            text.extend_from_slice(&self.last_error());
            self.fail(event, &text);
        }
        status
    }
}

unsafe extern "C" fn on_message(event: *mut Event, user_data: *mut c_void) -> Status {
    let echo = &*(user_data as *const Echo);
    match catch_unwind(AssertUnwindSafe(|| echo.on_message(event))) {
        Ok(status) => status,
        Err(_) => {
            echo.fail(event, b"the message handler panicked");
            NITRIC_ERR_HANDLER
        }
    }
}

/// The plugin's own config value `path`, if it is a string.
unsafe fn config_string(host: *mut PluginInstance, api: &HostApi, path: &str) -> Option<Vec<u8>> {
    let get = api.config_get?;
    let mut value = ConfigValue {
        type_: NITRIC_CONFIG_NONE,
        string: Str { ptr: ptr::null(), len: 0 },
        integer: 0,
        number: 0.0,
        boolean: 0,
        count: 0,
    };
    if get(host, path.as_ptr() as *const c_char, path.len(), &mut value) != NITRIC_OK
        || value.type_ != NITRIC_CONFIG_STRING
    {
        return None;
    }
    Some(value.string.as_bytes().to_vec())
}

unsafe fn init_plugin(
    host: *mut PluginInstance,
    api: *const HostApi,
    plugin_state: *mut *mut c_void,
) -> Status {
    if api.is_null() || (*api).abi_major != NITRIC_ABI_MAJOR || !api_has!(api, buffer_free) {
        return NITRIC_ERR_FAILED_PRECONDITION;
    }
    let table = &*api;
    let socket = config_string(host, table, "socket").unwrap_or_else(|| DEFAULT_SOCKET.into());
    let echo = Box::new(Echo {
        host,
        api,
        socket,
        has_send_start: api_has!(api, ws_send_start),
        has_event_set_error: api_has!(api, event_set_error),
    });
    let (on, log) = match (table.on, table.log) {
        (Some(on), Some(log)) => (on, log),
        _ => return NITRIC_ERR_FAILED_PRECONDITION,
    };
    let state = Box::into_raw(echo);
    let status = on(
        host,
        Str::lend(&(*state).socket),
        NITRIC_ON_MESSAGE,
        Some(on_message),
        state as *mut c_void,
    );
    if status != NITRIC_OK {
        // plugin.h: a failing init frees what it allocated; the host keeps
        // last_error's text for its log line.
        let text = (*state).last_error();
        drop(Box::from_raw(state));
        if let Some(set_error) = table.set_error {
            set_error(host, text.as_ptr() as *const c_char, text.len());
        }
        return status;
    }
    let mut ready = b"rust-echo ready on socket ".to_vec();
    ready.extend_from_slice(&(*state).socket);
    ready.extend_from_slice(if (*state).has_send_start {
        b" (ABI 1.1 host)"
    } else {
        b" (ABI 1.0 host)"
    });
    log(host, NITRIC_LOG_INFO, ready.as_ptr() as *const c_char, ready.len());
    *plugin_state = state as *mut c_void;
    NITRIC_OK
}

unsafe extern "C" fn init(
    host: *mut PluginInstance,
    api: *const HostApi,
    plugin_state: *mut *mut c_void,
) -> Status {
    catch_unwind(AssertUnwindSafe(|| init_plugin(host, api, plugin_state)))
        .unwrap_or(NITRIC_ERR_HANDLER)
}

unsafe extern "C" fn shutdown(plugin_state: *mut c_void) {
    if !plugin_state.is_null() {
        let state = plugin_state as *mut Echo;
        let _ = catch_unwind(AssertUnwindSafe(|| drop(Box::from_raw(state))));
    }
}

static DESCRIPTOR: StaticDescriptor = StaticDescriptor(PluginDescriptor {
    abi_major: NITRIC_ABI_MAJOR,
    abi_minor: NITRIC_ABI_MINOR,
    size: std::mem::size_of::<PluginDescriptor>(),
    name: b"rust-echo\0".as_ptr() as *const c_char,
    version: b"1.1.0\0".as_ptr() as *const c_char,
    init: Some(init),
    shutdown: Some(shutdown),
    export_state: None,
    import_state: None,
});

/// The ABI note (NITRIC_ABI_NOTE in plugin.h): a section whose name starts
/// with ".note" is an SHT_NOTE section, which the linker keeps and puts in a
/// PT_NOTE segment, where the host reads it before dlopen.
#[used]
#[link_section = ".note.nitric.abi"]
static NITRIC_ABI_NOTE: AbiNote = AbiNote {
    namesz: 7, // sizeof "nitric"
    descsz: 8,
    type_: NITRIC_ABI_NOTE_TYPE,
    name: *b"nitric\0\0",
    abi_major: NITRIC_ABI_MAJOR,
    abi_minor: NITRIC_ABI_MINOR,
};

/// The one symbol the host looks up. It returns static storage and does
/// nothing else (plugin.h: nitric_plugin_entry_fn).
#[no_mangle]
pub extern "C" fn nitric_plugin_entry() -> *const PluginDescriptor {
    &DESCRIPTOR.0
}
