//! Hand-written bindings to the C ABI in plugin-api/include/nitric/plugin.h
//! (ABI 1.1), for this plugin. No bindgen and no crate from outside: every
//! type below mirrors one in plugin.h field by field, in the same order, and
//! the const assertions at the end pin the layout to the numbers that
//! tests/plugins/abi/abi_layout.h pins for C and C++ (x86_64 / LP64), so a
//! mistake here fails the build instead of a call.
#![allow(dead_code)]

use std::os::raw::{c_char, c_int, c_void};

pub const NITRIC_ABI_MAJOR: u32 = 1;
pub const NITRIC_ABI_MINOR: u32 = 1;

/// `nitric_status`, a C enum: an int.
pub type Status = c_int;
pub const NITRIC_OK: Status = 0;
pub const NITRIC_DONE: Status = 1;
pub const NITRIC_ERR_INVALID_ARGUMENT: Status = 2;
pub const NITRIC_ERR_NOT_FOUND: Status = 3;
pub const NITRIC_ERR_PERMISSION_DENIED: Status = 4;
pub const NITRIC_ERR_UNAVAILABLE: Status = 5;
pub const NITRIC_ERR_FAILED_PRECONDITION: Status = 6;
pub const NITRIC_ERR_INTERNAL: Status = 7;
pub const NITRIC_ERR_HANDLER: Status = 8;
pub const NITRIC_ERR_TOO_LARGE: Status = 9;

/// `nitric_event_type`.
pub type EventType = c_int;
pub const NITRIC_EVENT_CONNECT: EventType = 0;
pub const NITRIC_EVENT_DISCONNECT: EventType = 1;
pub const NITRIC_EVENT_MESSAGE: EventType = 2;
pub const NITRIC_ON_CONNECT: u32 = 1 << NITRIC_EVENT_CONNECT;
pub const NITRIC_ON_DISCONNECT: u32 = 1 << NITRIC_EVENT_DISCONNECT;
pub const NITRIC_ON_MESSAGE: u32 = 1 << NITRIC_EVENT_MESSAGE;

/// `nitric_log_level`.
pub type LogLevel = c_int;
pub const NITRIC_LOG_TRACE: LogLevel = 0;
pub const NITRIC_LOG_DEBUG: LogLevel = 1;
pub const NITRIC_LOG_INFO: LogLevel = 2;
pub const NITRIC_LOG_WARN: LogLevel = 3;
pub const NITRIC_LOG_ERROR: LogLevel = 4;

/// `nitric_config_type`.
pub type ConfigType = c_int;
pub const NITRIC_CONFIG_NONE: ConfigType = 0;
pub const NITRIC_CONFIG_STRING: ConfigType = 1;

/// `nitric_str` (`nitric_plugin_str` / `nitric_host_str`): borrowed bytes,
/// not NUL-terminated. Who owns them is stated per call in plugin.h.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Str {
    pub ptr: *const c_char,
    pub len: usize,
}

impl Str {
    /// Lends `bytes` to the host for one call.
    pub fn lend(bytes: &[u8]) -> Str {
        Str { ptr: bytes.as_ptr() as *const c_char, len: bytes.len() }
    }
    /// The host's bytes as a slice; valid for the scope plugin.h states.
    ///
    /// # Safety
    /// `self` must come from the host and still be valid.
    pub unsafe fn as_bytes<'a>(self) -> &'a [u8] {
        if self.len == 0 || self.ptr.is_null() {
            &[]
        } else {
            std::slice::from_raw_parts(self.ptr as *const u8, self.len)
        }
    }
}

/// `nitric_buffer`: host-allocated bytes the plugin frees with buffer_free.
#[repr(C)]
pub struct Buffer {
    pub ptr: *mut c_char,
    pub len: usize,
}

/// Opaque handles (`nitric_plugin_instance` alias `nitric_host`,
/// `nitric_event`, `nitric_key_iter`): never dereferenced here.
#[repr(C)]
pub struct PluginInstance {
    _private: [u8; 0],
}
#[repr(C)]
pub struct Event {
    _private: [u8; 0],
}
#[repr(C)]
pub struct KeyIter {
    _private: [u8; 0],
}

/// `nitric_send_id`.
pub type SendId = u64;

/// `nitric_config_value`.
#[repr(C)]
pub struct ConfigValue {
    pub type_: ConfigType,
    pub string: Str,
    pub integer: i64,
    pub number: f64,
    pub boolean: c_int,
    pub count: usize,
}

pub type HandlerFn = unsafe extern "C" fn(event: *mut Event, user_data: *mut c_void) -> Status;
pub type StateWriterFn = unsafe extern "C" fn(writer_ctx: *mut c_void, ptr: *const c_char, len: usize);

/// `nitric_host_api`: the host's function table. Only ever appended to; a
/// field past `size` does not exist in an older host (see `api_has!`).
#[repr(C)]
pub struct HostApi {
    pub size: usize,
    pub abi_major: u32,
    pub abi_minor: u32,
    pub last_error: Option<unsafe extern "C" fn() -> *const c_char>,
    pub set_error: Option<unsafe extern "C" fn(*mut PluginInstance, *const c_char, usize)>,
    pub log: Option<unsafe extern "C" fn(*mut PluginInstance, LogLevel, *const c_char, usize)>,
    pub config_get: Option<
        unsafe extern "C" fn(*mut PluginInstance, *const c_char, usize, *mut ConfigValue) -> Status,
    >,
    pub declare_websocket: Option<unsafe extern "C" fn(*mut PluginInstance, Str) -> Status>,
    pub on: Option<
        unsafe extern "C" fn(*mut PluginInstance, Str, u32, Option<HandlerFn>, *mut c_void) -> Status,
    >,
    pub declare_kv: Option<unsafe extern "C" fn(*mut PluginInstance, Str, u32) -> Status>,
    pub event_type: Option<unsafe extern "C" fn(*const Event) -> EventType>,
    pub event_socket: Option<unsafe extern "C" fn(*const Event) -> Str>,
    pub event_connection_id: Option<unsafe extern "C" fn(*const Event) -> Str>,
    pub event_message: Option<unsafe extern "C" fn(*const Event) -> Str>,
    pub event_query_count: Option<unsafe extern "C" fn(*const Event) -> usize>,
    pub event_query_key:
        Option<unsafe extern "C" fn(*const Event, usize, *mut Str, *mut usize) -> Status>,
    pub event_query_value: Option<unsafe extern "C" fn(*const Event, usize, usize, *mut Str) -> Status>,
    pub event_reject: Option<unsafe extern "C" fn(*mut Event)>,
    pub ws_send: Option<unsafe extern "C" fn(*mut PluginInstance, Str, Str, Str) -> Status>,
    pub ws_close: Option<unsafe extern "C" fn(*mut PluginInstance, Str, Str) -> Status>,
    pub ws_details: Option<unsafe extern "C" fn(*mut PluginInstance, Str, *mut Buffer) -> Status>,
    pub kv_get: Option<unsafe extern "C" fn(*mut PluginInstance, Str, Str, *mut Buffer) -> Status>,
    pub kv_set: Option<unsafe extern "C" fn(*mut PluginInstance, Str, Str, Str) -> Status>,
    pub kv_delete: Option<unsafe extern "C" fn(*mut PluginInstance, Str, Str) -> Status>,
    pub kv_keys:
        Option<unsafe extern "C" fn(*mut PluginInstance, Str, Str, *mut *mut KeyIter) -> Status>,
    pub kv_keys_next: Option<unsafe extern "C" fn(*mut KeyIter, *mut Str) -> Status>,
    pub kv_keys_free: Option<unsafe extern "C" fn(*mut KeyIter)>,
    pub buffer_free: Option<unsafe extern "C" fn(*mut Buffer)>,
    // ABI 1.1
    pub event_set_error: Option<unsafe extern "C" fn(*mut Event, *const c_char, usize) -> Status>,
    pub ws_send_start:
        Option<unsafe extern "C" fn(*mut PluginInstance, Str, Str, Str, *mut SendId) -> Status>,
    pub ws_send_wait: Option<unsafe extern "C" fn(*mut PluginInstance, SendId) -> Status>,
}

/// NITRIC_API_HAS(api, field): the host's table is long enough to hold
/// `field`, and it is set. `api` is a `*const HostApi`; the field is read
/// only once the size says it exists.
#[macro_export]
macro_rules! api_has {
    ($api:expr, $field:ident) => {{
        let api: *const $crate::ffi::HostApi = $api;
        let start = std::ptr::addr_of!((*api).$field) as usize - api as usize;
        let end = start + std::mem::size_of::<Option<unsafe extern "C" fn()>>();
        (*api).size >= end && std::ptr::read(std::ptr::addr_of!((*api).$field)).is_some()
    }};
}

/// `nitric_plugin_descriptor`. The first three fields never move.
#[repr(C)]
pub struct PluginDescriptor {
    pub abi_major: u32,
    pub abi_minor: u32,
    pub size: usize,
    pub name: *const c_char,
    pub version: *const c_char,
    pub init: Option<
        unsafe extern "C" fn(*mut PluginInstance, *const HostApi, *mut *mut c_void) -> Status,
    >,
    pub shutdown: Option<unsafe extern "C" fn(*mut c_void)>,
    pub export_state: Option<unsafe extern "C" fn(*mut c_void, Option<StateWriterFn>, *mut c_void) -> Status>,
    pub import_state: Option<unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> Status>,
}

/// A descriptor in static storage: raw pointers are not `Sync`, but these
/// point at static strings and functions only.
pub struct StaticDescriptor(pub PluginDescriptor);
unsafe impl Sync for StaticDescriptor {}

/// `nitric_abi_note`: the ELF note (section .note.nitric.abi, owner
/// "nitric", type "NABI") the host reads before dlopen.
#[repr(C, align(4))]
pub struct AbiNote {
    pub namesz: u32,
    pub descsz: u32,
    pub type_: u32,
    pub name: [u8; 8],
    pub abi_major: u32,
    pub abi_minor: u32,
}
pub const NITRIC_ABI_NOTE_TYPE: u32 = 0x4e41_4249; // "NABI"

// The layout plugin.h has on x86_64 / LP64 (tests/plugins/abi/abi_layout.h).
#[cfg(target_pointer_width = "64")]
const _: () = {
    use std::mem::size_of;
    assert!(size_of::<Str>() == 16);
    assert!(size_of::<Buffer>() == 16);
    assert!(size_of::<ConfigValue>() == 56);
    assert!(size_of::<PluginDescriptor>() == 64);
    assert!(size_of::<AbiNote>() == 28);
    assert!(size_of::<HostApi>() == 240);
    assert!(size_of::<Status>() == 4);
};
