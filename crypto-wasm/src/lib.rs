//! kink's crypto core: Kerberos RFC 3961/3962/8009 (enctypes 17-20) and the
//! KINK KEYMAT expansion, exported to JavaScript through wasm-bindgen.
//!
//! Keys live in this module's memory behind integer handles; derived keys
//! (Kc/Ke/Ki per usage, the PRF key) and the HMAC pad states are computed once
//! per key and cached, so a KINK message costs one HMAC (plus the AES work)
//! rather than a key derivation. Every heap block is zeroed when freed (see
//! [`ZeroingAlloc`]), so plaintexts and key material passed through this
//! module do not linger in freed wasm memory. Randomness (confounders, session
//! keys) comes from the JavaScript side (`crypto.getRandomValues`): this crate
//! has no imports besides what wasm-bindgen itself needs.
//!
//! Status codes returned to JavaScript: 0 ok, 1 unsupported enctype, 2 key
//! length, 3 short ciphertext, 4 integrity failure, 5 invalid input, 6 unknown
//! key handle.

pub mod kcrypto;

use core::cell::RefCell;
use kcrypto::{Enctype, Error, HashAlg, KeyState, PrfMode};
use std::alloc::{GlobalAlloc, Layout, System};
use wasm_bindgen::prelude::*;
use zeroize::Zeroize;

/// A global allocator that zeroes every block before returning it to the
/// system allocator.
pub struct ZeroingAlloc;

unsafe impl GlobalAlloc for ZeroingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        core::slice::from_raw_parts_mut(ptr, layout.size()).zeroize();
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let np = System.alloc(new_layout);
        if !np.is_null() {
            core::ptr::copy_nonoverlapping(ptr, np, core::cmp::min(layout.size(), new_size));
            self.dealloc(ptr, layout);
        }
        np
    }
}

#[global_allocator]
static ALLOC: ZeroingAlloc = ZeroingAlloc;

/// Status of the last call that reports one (see the module doc for codes).
const OK: u32 = 0;
const BAD_HANDLE: u32 = 6;

struct Table {
    slots: Vec<Option<Box<KeyState>>>,
    free: Vec<u32>,
    status: u32,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table { slots: Vec::new(), free: Vec::new(), status: OK });
}

fn set_status(s: u32) {
    TABLE.with(|t| t.borrow_mut().status = s);
}

fn code(e: Error) -> u32 {
    e as u32
}

/// Overwrites the part of the shadow stack in linear memory that the crypto
/// routines just used (hash block buffers, AES state, derived-key
/// temporaries live there), so no plaintext or key-schedule residue stays
/// behind a call. Runs at the depth of the call it follows.
#[inline(never)]
fn scrub_stack() {
    let mut area = core::mem::MaybeUninit::<[u64; 512]>::uninit();
    let local = area.as_mut_ptr() as *mut u8;
    // SAFETY: `p` is `local`, laundered through a volatile read so the
    // optimiser cannot see that it points at a dying local and drop the
    // memset as a dead store; with bulk memory this is one `memory.fill`.
    unsafe {
        let p = core::ptr::read_volatile(&local);
        core::ptr::write_bytes(p, 0, 4096);
    }
}

fn with_key<R>(h: u32, f: impl FnOnce(&mut KeyState) -> Result<R, Error>) -> Result<R, u32> {
    let r = with_key_inner(h, f);
    scrub_stack();
    r
}

fn with_key_inner<R>(h: u32, f: impl FnOnce(&mut KeyState) -> Result<R, Error>) -> Result<R, u32> {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        let slot = if h == 0 { None } else { t.slots.get_mut((h - 1) as usize) };
        match slot {
            Some(Some(k)) => f(k).map_err(code),
            _ => Err(BAD_HANDLE),
        }
    })
}

/// Result code of the last call to a function documented as setting it.
#[wasm_bindgen]
pub fn last_status() -> u32 {
    TABLE.with(|t| t.borrow().status)
}

/// Stores a key; returns its handle (≥ 1) or 0 with the status set. The
/// argument buffer is owned here and zeroed.
#[wasm_bindgen]
pub fn key_new(enctype: u32, mut bytes: Vec<u8>) -> u32 {
    let r = Enctype::from_number(enctype).and_then(|et| KeyState::new(et, &bytes));
    bytes.zeroize();
    scrub_stack();
    match r {
        Err(e) => {
            set_status(code(e));
            0
        }
        Ok(k) => insert(Box::new(k)),
    }
}

/// Stores a key state in a free slot; returns its handle and sets the status OK.
fn insert(b: Box<KeyState>) -> u32 {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.status = OK;
        if let Some(h) = t.free.pop() {
            t.slots[(h - 1) as usize] = Some(b);
            h
        } else {
            t.slots.push(Some(b));
            t.slots.len() as u32
        }
    })
}

/// Copies a key together with its cached derived keys into a new handle
/// (for a cache that hands out keys its callers dispose); returns the handle,
/// or 0 with the status set for an unknown handle.
#[wasm_bindgen]
pub fn key_clone(h: u32) -> u32 {
    match with_key(h, |k| Ok(Box::new(k.clone()))) {
        Err(c) => {
            set_status(c);
            0
        }
        Ok(b) => insert(b),
    }
}

/// Wipes and releases a key handle (idempotent).
#[wasm_bindgen]
pub fn key_free(h: u32) {
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if h == 0 {
            return;
        }
        let idx = (h - 1) as usize;
        if let Some(slot) = t.slots.get_mut(idx) {
            if let Some(mut k) = slot.take() {
                k.wipe();
                t.free.push(h);
            }
        }
    })
}

/// Number of live keys (for leak tests).
#[wasm_bindgen]
pub fn key_count() -> u32 {
    TABLE.with(|t| t.borrow().slots.iter().filter(|s| s.is_some()).count() as u32)
}

/// Copies the key bytes out into `out` (must have the key's length).
#[wasm_bindgen]
pub fn key_export(h: u32, out: &mut [u8]) -> u32 {
    match with_key(h, |k| {
        if out.len() != k.bytes().len() {
            return Err(Error::InvalidInput);
        }
        out.copy_from_slice(k.bytes());
        Ok(())
    }) {
        Ok(()) => OK,
        Err(c) => c,
    }
}

// ---- the I/O buffer ----
//
// Hot operations exchange data through one buffer in wasm memory instead of
// per-call allocations: JavaScript reserves room with `io_reserve`, writes
// the input there, calls an `io_*` function with plain integers, reads the
// result from the same buffer and zero-fills what it used. This keeps a
// KINK-sized operation at one call across the boundary and no allocation.

thread_local! {
    static IO: RefCell<Vec<u8>> = RefCell::new(Vec::new());
}

/// Makes the I/O buffer at least `len` octets long and returns its address
/// (valid until the next `io_reserve` that grows it). Growing moves the
/// contents to a new block; the old one is zeroed by the allocator.
#[wasm_bindgen]
pub fn io_reserve(len: u32) -> u32 {
    IO.with(|io| {
        let mut io = io.borrow_mut();
        if io.len() < len as usize {
            let mut v = vec![0u8; (len as usize).next_power_of_two().max(4096)];
            core::mem::swap(&mut *io, &mut v);
            v.zeroize();
        }
        io.as_mut_ptr() as u32
    })
}

fn with_io<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> Result<R, u32> {
    IO.with(|io| {
        let mut io = io.borrow_mut();
        if io.len() < len {
            return Err(code(Error::InvalidInput));
        }
        Ok(f(&mut io[..len]))
    })
}

fn status(r: Result<Result<(), u32>, u32>) -> u32 {
    match r {
        Ok(Ok(())) => OK,
        Ok(Err(c)) | Err(c) => c,
    }
}

/// Encrypts io[0 .. 16 + n + tag] in place: confounder ‖ plaintext (n
/// octets) ‖ room for the tag → C ‖ H. `len` is the whole length. Status.
#[wasm_bindgen]
pub fn io_encrypt(h: u32, usage: u32, len: u32) -> u32 {
    status(with_io(len as usize, |buf| with_key(h, |k| k.encrypt_in_place(usage, buf))))
}

/// Decrypts io[0 .. len] (C ‖ H) in place; the plaintext is then at
/// io[16 .. len - tag]. On failure the region is zeroed. Status.
#[wasm_bindgen]
pub fn io_decrypt(h: u32, usage: u32, len: u32) -> u32 {
    status(with_io(len as usize, |buf| with_key(h, |k| k.decrypt_in_place(usage, buf))))
}

/// get_mic of io[0 .. len], written to io[len .. len + tag]. Status.
#[wasm_bindgen]
pub fn io_get_mic(h: u32, usage: u32, len: u32, tag: u32) -> u32 {
    let (len, tag) = (len as usize, tag as usize);
    status(with_io(len + tag, |buf| {
        with_key(h, |k| {
            if tag != k.et.mac_len() {
                return Err(Error::InvalidInput);
            }
            let (data, out) = buf.split_at_mut(len);
            k.get_mic_into(usage, data, out);
            Ok(())
        })
    }))
}

/// verify_mic of io[0 .. len] against io[len .. len + mic_len]: 0 valid,
/// 4 invalid, other codes for errors.
#[wasm_bindgen]
pub fn io_verify_mic(h: u32, usage: u32, len: u32, mic_len: u32) -> u32 {
    let (len, mic_len) = (len as usize, mic_len as usize);
    status(with_io(len + mic_len, |buf| {
        with_key(h, |k| {
            let (data, mic) = buf.split_at(len);
            if k.verify_mic(usage, data, mic) {
                Ok(())
            } else {
                Err(Error::Integrity)
            }
        })
    }))
}

fn mode(mit: bool) -> PrfMode {
    if mit {
        PrfMode::Mit
    } else {
        PrfMode::Racoon2
    }
}

/// PRF of io[0 .. len], written to io[len ..]; returns the output length
/// (0 with the status set on error). `mit` selects the 16-octet MIT/Heimdal
/// form for 17/18. JavaScript reserves len + 48.
#[wasm_bindgen]
pub fn io_prf(h: u32, len: u32, mit: bool) -> u32 {
    let len = len as usize;
    let r = with_io(len + 48, |buf| {
        with_key(h, |k| {
            let (input, out) = buf.split_at_mut(len);
            let mut v = k.prf(&[input], mode(mit));
            out[..v.len()].copy_from_slice(&v);
            let n = v.len() as u32;
            v.zeroize();
            Ok(n)
        })
    });
    match r {
        Ok(Ok(n)) => {
            set_status(OK);
            n
        }
        Ok(Err(c)) | Err(c) => {
            set_status(c);
            0
        }
    }
}

/// KINK KEYMAT of `out_len` octets from the complete seed at io[0 .. len]
/// (`[g^xy ‖] protocol ‖ SPI ‖ Ni_b [‖ Nr_b]`), written to
/// io[len .. len + out_len]. Status.
#[wasm_bindgen]
pub fn io_keymat(h: u32, len: u32, out_len: u32, mit: bool) -> u32 {
    let (len, out_len) = (len as usize, out_len as usize);
    status(with_io(len + out_len, |buf| {
        with_key(h, |k| {
            let (seed, out) = buf.split_at_mut(len);
            let mut v = k.keymat(seed, out_len, mode(mit));
            out.copy_from_slice(&v);
            v.zeroize();
            Ok(())
        })
    }))
}

/// SHA-256 of io[0 .. len], written to io[len .. len + 32] (for digests of
/// public data, e.g. replay-cache keys; no key is involved). Status.
#[wasm_bindgen]
pub fn io_sha256(len: u32) -> u32 {
    use sha2::{Digest, Sha256};
    let len = len as usize;
    status(with_io(len + 32, |buf| {
        let (data, out) = buf.split_at_mut(len);
        out[..32].copy_from_slice(&Sha256::digest(data));
        Ok(())
    }))
}

/// String-to-key; returns a new key handle or 0 with the status set. The
/// password buffer is owned here and zeroed.
#[wasm_bindgen]
pub fn string_to_key(enctype: u32, mut password: Vec<u8>, salt: &[u8], iterations: u32) -> u32 {
    let r = Enctype::from_number(enctype)
        .and_then(|et| kcrypto::string_to_key(et, &password, salt, iterations).map(|k| (et, k)));
    password.zeroize();
    scrub_stack();
    match r {
        Err(e) => {
            set_status(code(e));
            0
        }
        Ok((et, mut kb)) => {
            let h = key_new(et.number(), kb.clone());
            kb.zeroize();
            h
        }
    }
}

// ---- primitives exposed for vector and differential tests ----

/// n-fold (RFC 3961 §5.1).
#[wasm_bindgen]
pub fn prim_nfold(input: &[u8], out_len: u32) -> Vec<u8> {
    kcrypto::nfold(input, out_len as usize)
}

/// HMAC with hash code 1, 256 or 384; empty result for an unknown code.
#[wasm_bindgen]
pub fn prim_hmac(alg: u32, key: &[u8], data: &[u8]) -> Vec<u8> {
    match HashAlg::from_code(alg) {
        Some(a) => kcrypto::hmac(a, key, data),
        None => Vec::new(),
    }
}

/// PBKDF2 with hash code 1, 256 or 384; empty on bad input.
#[wasm_bindgen]
pub fn prim_pbkdf2(alg: u32, password: &[u8], salt: &[u8], iterations: u32, len: u32) -> Vec<u8> {
    match HashAlg::from_code(alg) {
        Some(a) => kcrypto::pbkdf2_raw(a, password, salt, iterations, len as usize).unwrap_or_default(),
        None => Vec::new(),
    }
}

/// Raw AES-CTS encrypt (or decrypt) under a 16/32-octet key and IV; returns
/// output ‖ next cipher state (16), or empty on bad input.
#[wasm_bindgen]
pub fn prim_cts(key: &[u8], iv: &[u8], data: &[u8], decrypt: bool) -> Vec<u8> {
    let k = match kcrypto::AesKey::new(key) {
        Ok(k) => k,
        Err(_) => return Vec::new(),
    };
    if iv.len() != 16 || data.len() < 16 {
        return Vec::new();
    }
    let mut ivb = [0u8; 16];
    ivb.copy_from_slice(iv);
    let mut out = data.to_vec();
    let next = if decrypt {
        kcrypto::cts_decrypt(&k, &ivb, &mut out)
    } else {
        kcrypto::cts_encrypt(&k, &ivb, &mut out)
    };
    match next {
        Ok(n) => {
            out.extend_from_slice(&n);
            out
        }
        Err(_) => Vec::new(),
    }
}

/// Derived key for `usage` and role 0x99/0xAA/0x55 (or any 5-octet-or-other
/// constant with `role` 0xAA for DK-style length) from base key bytes.
#[wasm_bindgen]
pub fn prim_derive(enctype: u32, base: &[u8], constant: &[u8], role: u32) -> Vec<u8> {
    let et = match Enctype::from_number(enctype) {
        Ok(e) => e,
        Err(_) => return Vec::new(),
    };
    if base.len() != et.key_len() {
        return Vec::new();
    }
    let r = match role {
        0x99 => kcrypto::Role::Kc,
        0x55 => kcrypto::Role::Ki,
        _ => kcrypto::Role::Ke,
    };
    kcrypto::derive_key(et, base, constant, r)
}
