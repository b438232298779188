//! Kerberos crypto for the AES enctypes, independent of the wasm bindings.
//!
//! * RFC 3961 simplified profile + RFC 3962: enctypes 17 (aes128-cts-hmac-sha1-96)
//!   and 18 (aes256-cts-hmac-sha1-96): n-fold, DK/DR, AES-CBC-CTS, HMAC-SHA1-96.
//! * RFC 8009: enctypes 19 (aes128-cts-hmac-sha256-128) and 20
//!   (aes256-cts-hmac-sha384-192): KDF-HMAC-SHA2, encrypt-then-MAC over IV | C.
//! * RFC 4430 §7 / RFC 2409 §5.5 KEYMAT expansion with the enctype's PRF.
//!
//! Block cipher, hashes, HMAC and PBKDF2 come from the RustCrypto crates
//! (`aes` uses its constant-time bitsliced software backend on wasm32); this
//! module only composes them as the RFCs prescribe.

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::{Aes128, Aes256};
use hmac::{Hmac, Mac as _};
use sha1::{Digest, Sha1};
use sha2::{Sha256, Sha384};
use subtle::ConstantTimeEq;
use core::cell::RefCell;
use std::rc::Rc;
use zeroize::Zeroize;

/// AES block size in octets.
pub const BLOCK: usize = 16;
/// Confounder length (one cipher block) for every AES enctype.
pub const CONFOUNDER: usize = 16;
/// Highest accepted PBKDF2 iteration count (MIT krb5's limit is 2^24 as well):
/// a larger count supplied by a peer or KDC is a denial of service, not a key.
pub const MAX_ITERATIONS: u32 = 1 << 24;

/// Errors of this module (mapped to typed TypeScript errors by the binding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Enctype not in 17..=20.
    UnsupportedEnctype = 1,
    /// Key of the wrong length for the enctype.
    KeyLength = 2,
    /// Ciphertext too short to hold confounder and integrity tag.
    ShortCiphertext = 3,
    /// Integrity check failed.
    Integrity = 4,
    /// Any other bad input (length, iteration count, ...).
    InvalidInput = 5,
}

/// The four supported enctypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enctype {
    /// 17 aes128-cts-hmac-sha1-96
    Aes128Sha1,
    /// 18 aes256-cts-hmac-sha1-96
    Aes256Sha1,
    /// 19 aes128-cts-hmac-sha256-128
    Aes128Sha256,
    /// 20 aes256-cts-hmac-sha384-192
    Aes256Sha384,
}

impl Enctype {
    /// Maps an IANA enctype number.
    pub fn from_number(n: u32) -> Result<Enctype, Error> {
        match n {
            17 => Ok(Enctype::Aes128Sha1),
            18 => Ok(Enctype::Aes256Sha1),
            19 => Ok(Enctype::Aes128Sha256),
            20 => Ok(Enctype::Aes256Sha384),
            _ => Err(Error::UnsupportedEnctype),
        }
    }
    /// IANA enctype number.
    pub fn number(self) -> u32 {
        match self {
            Enctype::Aes128Sha1 => 17,
            Enctype::Aes256Sha1 => 18,
            Enctype::Aes128Sha256 => 19,
            Enctype::Aes256Sha384 => 20,
        }
    }
    /// Protocol key length in octets.
    pub fn key_len(self) -> usize {
        match self {
            Enctype::Aes128Sha1 | Enctype::Aes128Sha256 => 16,
            Enctype::Aes256Sha1 | Enctype::Aes256Sha384 => 32,
        }
    }
    /// Length of the integrity tag of encrypt and of the mandatory checksum.
    pub fn mac_len(self) -> usize {
        match self {
            Enctype::Aes128Sha1 | Enctype::Aes256Sha1 => 12,
            Enctype::Aes128Sha256 => 16,
            Enctype::Aes256Sha384 => 24,
        }
    }
    /// True for the RFC 8009 enctypes.
    pub fn is_sha2(self) -> bool {
        matches!(self, Enctype::Aes128Sha256 | Enctype::Aes256Sha384)
    }
    fn hash(self) -> HashAlg {
        match self {
            Enctype::Aes128Sha1 | Enctype::Aes256Sha1 => HashAlg::Sha1,
            Enctype::Aes128Sha256 => HashAlg::Sha256,
            Enctype::Aes256Sha384 => HashAlg::Sha384,
        }
    }
    /// RFC 8009 enctype name (the PBKDF2 salt prefix).
    fn name(self) -> &'static [u8] {
        match self {
            Enctype::Aes128Sha1 => b"aes128-cts-hmac-sha1-96",
            Enctype::Aes256Sha1 => b"aes256-cts-hmac-sha1-96",
            Enctype::Aes128Sha256 => b"aes128-cts-hmac-sha256-128",
            Enctype::Aes256Sha384 => b"aes256-cts-hmac-sha384-192",
        }
    }
}

/// Hash functions used by HMAC here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    /// SHA-1 (20 octets)
    Sha1,
    /// SHA-256 (32 octets)
    Sha256,
    /// SHA-384 (48 octets)
    Sha384,
}

impl HashAlg {
    /// From the numeric code used by the binding (1, 256, 384).
    pub fn from_code(c: u32) -> Option<HashAlg> {
        match c {
            1 => Some(HashAlg::Sha1),
            256 => Some(HashAlg::Sha256),
            384 => Some(HashAlg::Sha384),
            _ => None,
        }
    }
}

/// A keyed HMAC whose inner/outer pad states are computed once; `mac` clones it.
#[derive(Clone)]
pub enum MacKey {
    /// HMAC-SHA1
    Sha1(Hmac<Sha1>),
    /// HMAC-SHA256
    Sha256(Hmac<Sha256>),
    /// HMAC-SHA384
    Sha384(Hmac<Sha384>),
}

/// Full HMAC output buffer (up to 48 octets) and its length.
pub struct MacOut {
    buf: [u8; 48],
    len: usize,
}

impl MacOut {
    /// The output octets.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for MacOut {
    fn drop(&mut self) {
        self.buf.zeroize();
    }
}

impl MacKey {
    /// Keys an HMAC (any key length).
    pub fn new(alg: HashAlg, key: &[u8]) -> MacKey {
        // new_from_slice accepts every key length for HMAC.
        match alg {
            HashAlg::Sha1 => MacKey::Sha1(<Hmac<Sha1> as hmac::Mac>::new_from_slice(key).expect("hmac key")),
            HashAlg::Sha256 => {
                MacKey::Sha256(<Hmac<Sha256> as hmac::Mac>::new_from_slice(key).expect("hmac key"))
            }
            HashAlg::Sha384 => {
                MacKey::Sha384(<Hmac<Sha384> as hmac::Mac>::new_from_slice(key).expect("hmac key"))
            }
        }
    }

    /// HMAC over the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> MacOut {
        let mut out = MacOut { buf: [0u8; 48], len: 0 };
        match self {
            MacKey::Sha1(m) => {
                let mut m = m.clone();
                for p in parts {
                    m.update(p);
                }
                let r = m.finalize().into_bytes();
                out.buf[..20].copy_from_slice(&r);
                out.len = 20;
            }
            MacKey::Sha256(m) => {
                let mut m = m.clone();
                for p in parts {
                    m.update(p);
                }
                let r = m.finalize().into_bytes();
                out.buf[..32].copy_from_slice(&r);
                out.len = 32;
            }
            MacKey::Sha384(m) => {
                let mut m = m.clone();
                for p in parts {
                    m.update(p);
                }
                let r = m.finalize().into_bytes();
                out.buf[..48].copy_from_slice(&r);
                out.len = 48;
            }
        }
        out
    }
}

/// One-shot HMAC (used by the vector tests).
pub fn hmac(alg: HashAlg, key: &[u8], data: &[u8]) -> Vec<u8> {
    MacKey::new(alg, key).mac(&[data]).as_slice().to_vec()
}

/// An AES key schedule (128 or 256 bits).
#[derive(Clone)]
pub enum AesKey {
    /// AES-128
    A128(Aes128),
    /// AES-256
    A256(Aes256),
}

impl AesKey {
    /// Expands a 16- or 32-octet key.
    pub fn new(key: &[u8]) -> Result<AesKey, Error> {
        match key.len() {
            16 => Ok(AesKey::A128(Aes128::new(GenericArray::from_slice(key)))),
            32 => Ok(AesKey::A256(Aes256::new(GenericArray::from_slice(key)))),
            _ => Err(Error::KeyLength),
        }
    }
    #[inline]
    fn enc(&self, b: &mut [u8; BLOCK]) {
        let ga = GenericArray::from_mut_slice(&mut b[..]);
        match self {
            AesKey::A128(k) => k.encrypt_block(ga),
            AesKey::A256(k) => k.encrypt_block(ga),
        }
    }
    /// Decrypts whole blocks in place; the bitsliced backend processes
    /// several independent blocks per pass, so this is much cheaper than a
    /// loop of single-block calls.
    fn dec_blocks(&self, data: &mut [u8]) {
        debug_assert!(data.len() % BLOCK == 0);
        let mut blocks: Vec<aes::Block> =
            data.chunks_exact(BLOCK).map(|c| *GenericArray::from_slice(c)).collect();
        match self {
            AesKey::A128(k) => k.decrypt_blocks(&mut blocks),
            AesKey::A256(k) => k.decrypt_blocks(&mut blocks),
        }
        for (dst, b) in data.chunks_exact_mut(BLOCK).zip(blocks.iter_mut()) {
            dst.copy_from_slice(b);
            b.as_mut_slice().zeroize();
        }
    }
    #[inline]
    fn dec(&self, b: &mut [u8; BLOCK]) {
        let ga = GenericArray::from_mut_slice(&mut b[..]);
        match self {
            AesKey::A128(k) => k.decrypt_block(ga),
            AesKey::A256(k) => k.decrypt_block(ga),
        }
    }
}

#[inline]
fn xor_into(dst: &mut [u8; BLOCK], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src.iter()) {
        *d ^= *s;
    }
}

/// AES-CBC with ciphertext stealing as Kerberos uses it (RFC 3962 §5: the
/// last two blocks are always swapped, i.e. CBC-CS3; one block is plain CBC).
/// Encrypts `data` in place (len ≥ 16) and returns the next cipher state
/// (the next-to-last output block; the only block if there is one).
pub fn cts_encrypt(key: &AesKey, iv: &[u8; BLOCK], data: &mut [u8]) -> Result<[u8; BLOCK], Error> {
    let n = data.len();
    if n < BLOCK {
        return Err(Error::InvalidInput);
    }
    let mut prev = *iv;
    if n == BLOCK {
        xor_into(&mut prev, data);
        key.enc(&mut prev);
        data.copy_from_slice(&prev);
        return Ok(prev);
    }
    let m = (n + BLOCK - 1) / BLOCK; // number of blocks, ≥ 2
    let r = n - BLOCK * (m - 1); // octets in the last block, 1..=16
    // Plain CBC over the first m-1 (full) blocks.
    for i in 0..m - 1 {
        let blk = &mut data[i * BLOCK..(i + 1) * BLOCK];
        xor_into(&mut prev, blk);
        key.enc(&mut prev);
        blk.copy_from_slice(&prev);
    }
    // prev = C_{m-1}. Last block, zero padded: C_m = E(C_{m-1} ^ (P_m | 0)).
    let mut last = prev;
    xor_into(&mut last, &data[(m - 1) * BLOCK..n]);
    key.enc(&mut last);
    // Output: ..., C_m, C_{m-1}[0..r]
    data[(m - 1) * BLOCK..n].copy_from_slice(&prev[..r]);
    data[(m - 2) * BLOCK..(m - 1) * BLOCK].copy_from_slice(&last);
    Ok(last)
}

/// Inverse of [`cts_encrypt`]; decrypts in place and returns the next cipher state.
///
/// Every full output block (all but the stolen tail) is an independent block
/// decryption, done in one parallel pass; only the reconstructed C_{m-1}
/// needs a second, dependent one.
pub fn cts_decrypt(key: &AesKey, iv: &[u8; BLOCK], data: &mut [u8]) -> Result<[u8; BLOCK], Error> {
    let n = data.len();
    if n < BLOCK {
        return Err(Error::InvalidInput);
    }
    if n == BLOCK {
        let mut b = [0u8; BLOCK];
        b.copy_from_slice(data);
        let next = b;
        key.dec(&mut b);
        xor_into(&mut b, iv);
        data.copy_from_slice(&b);
        b.zeroize();
        return Ok(next);
    }
    let m = (n + BLOCK - 1) / BLOCK;
    let r = n - BLOCK * (m - 1);
    let full = (m - 1) * BLOCK; // O_1 .. O_{m-1}; O_{m-1} = C_m
    // Chaining values: C_0 = IV, C_1 .. C_{m-2}; and C_m itself.
    let orig: Vec<u8> = data[..full].to_vec();
    let mut cm = [0u8; BLOCK];
    cm.copy_from_slice(&orig[full - BLOCK..]);
    key.dec_blocks(&mut data[..full]);
    // Blocks 1 .. m-2: P_i = D(C_i) ^ C_{i-1}.
    for i in 0..m - 2 {
        let prev: &[u8] = if i == 0 { &iv[..] } else { &orig[(i - 1) * BLOCK..i * BLOCK] };
        for j in 0..BLOCK {
            data[i * BLOCK + j] ^= prev[j];
        }
    }
    // x = D(C_m) = (P_m | 0) ^ C_{m-1}; C_{m-1} = O_m | x[r..].
    let mut x = [0u8; BLOCK];
    x.copy_from_slice(&data[full - BLOCK..full]);
    let mut cm1 = x;
    cm1[..r].copy_from_slice(&data[full..n]);
    let mut pm = [0u8; BLOCK];
    for i in 0..r {
        pm[i] = x[i] ^ cm1[i];
    }
    let mut pm1 = cm1;
    key.dec(&mut pm1);
    let prev: &[u8] = if m == 2 { &iv[..] } else { &orig[(m - 3) * BLOCK..(m - 2) * BLOCK] };
    xor_into(&mut pm1, prev);
    data[full - BLOCK..full].copy_from_slice(&pm1);
    data[full..n].copy_from_slice(&pm[..r]);
    pm.zeroize();
    pm1.zeroize();
    x.zeroize();
    Ok(cm)
}

/// RFC 3961 §5.1 n-fold of `input` to `out_len` octets: replicate the input
/// to lcm(len, out_len) octets, copy k rotated right by 13·k bits, then add
/// the out_len-octet chunks with ones'-complement (end-around carry) addition.
pub fn nfold(input: &[u8], out_len: usize) -> Vec<u8> {
    let inlen = input.len();
    if inlen == 0 || out_len == 0 {
        return vec![0u8; out_len];
    }
    let (mut a, mut b) = (inlen, out_len);
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    let lcm = inlen / a * out_len;
    let inbits = inlen * 8;
    let bit = |pos: usize| -> u8 { (input[pos / 8] >> (7 - (pos % 8))) & 1 };
    let mut acc = vec![0u64; out_len];
    for byte_idx in 0..lcm {
        let mut v: u8 = 0;
        for bi in 0..8 {
            let j = byte_idx * 8 + bi; // bit index in the replicated string
            let copy = j / inbits;
            let rot = (13 * copy) % inbits;
            let src = (j % inbits + inbits - rot) % inbits;
            v = (v << 1) | bit(src);
        }
        acc[byte_idx % out_len] += v as u64;
    }
    loop {
        let mut carry = 0u64;
        for i in (0..out_len).rev() {
            let v = acc[i] + carry;
            acc[i] = v & 0xff;
            carry = v >> 8;
        }
        if carry == 0 {
            break;
        }
        acc[out_len - 1] += carry;
    }
    acc.iter().map(|&v| v as u8).collect()
}

/// RFC 3961 §5.1 DR(Key, Constant) for AES (`k` octets of output).
pub fn dr_aes(key: &AesKey, constant: &[u8], k: usize) -> Vec<u8> {
    let mut block = [0u8; BLOCK];
    if constant.len() == BLOCK {
        block.copy_from_slice(constant);
    } else {
        block.copy_from_slice(&nfold(constant, BLOCK));
    }
    let mut out = Vec::with_capacity(k + BLOCK);
    while out.len() < k {
        key.enc(&mut block);
        out.extend_from_slice(&block);
    }
    out.truncate(k);
    block.zeroize();
    out
}

/// RFC 8009 §3 KDF-HMAC-SHA2(key, label, context, k bits) for k ≤ hash size.
pub fn kdf_hmac_sha2(alg: HashAlg, key: &[u8], label: &[u8], context: &[u8], k_bits: u32) -> Vec<u8> {
    kdf_with(&MacKey::new(alg, key), label, context, k_bits)
}

fn kdf_with(mk: &MacKey, label: &[u8], context: &[u8], k_bits: u32) -> Vec<u8> {
    let out = mk.mac(&[&[0, 0, 0, 1], label, &[0], context, &k_bits.to_be_bytes()]);
    out.as_slice()[..(k_bits / 8) as usize].to_vec()
}

/// Key-derivation role constants (RFC 3961 §5.3 / RFC 8009 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// 0x99 checksum key
    Kc,
    /// 0xAA encryption key
    Ke,
    /// 0x55 integrity key
    Ki,
}

impl Role {
    fn octet(self) -> u8 {
        match self {
            Role::Kc => 0x99,
            Role::Ke => 0xAA,
            Role::Ki => 0x55,
        }
    }
}

/// Derives Kc/Ke/Ki for `usage` from the base key bytes.
pub fn derive_usage_key(et: Enctype, base: &[u8], usage: u32, role: Role) -> Vec<u8> {
    let mut c = [0u8; 5];
    c[..4].copy_from_slice(&usage.to_be_bytes());
    c[4] = role.octet();
    derive_key(et, base, &c, role)
}

/// DK(base, constant) for 17/18 or KDF-HMAC-SHA2(base, constant, k) for 19/20,
/// with the k of `role` (RFC 8009: Ke of etype 20 is 256 bits, all others of
/// 19/20 are 128 resp. 192 bits).
pub fn derive_key(et: Enctype, base: &[u8], constant: &[u8], role: Role) -> Vec<u8> {
    match et {
        Enctype::Aes128Sha1 | Enctype::Aes256Sha1 => {
            let k = AesKey::new(base).expect("validated key length");
            dr_aes(&k, constant, et.key_len())
        }
        Enctype::Aes128Sha256 => kdf_hmac_sha2(HashAlg::Sha256, base, constant, &[], 128),
        Enctype::Aes256Sha384 => {
            let bits = if role == Role::Ke { 256 } else { 192 };
            kdf_hmac_sha2(HashAlg::Sha384, base, constant, &[], bits)
        }
    }
}

/// The derived keys of one key usage, expanded once and cached.
pub struct UsageKeys {
    /// The key usage number.
    pub usage: u32,
    kc: Option<MacKey>,
    ke_ki: Option<(AesKey, MacKey)>,
}

/// The keys derived from one base key. Shared by a key and its clones
/// ([`KeyState::clone`]); wiped when the last of them lets go of it.
#[derive(Default)]
struct Derived {
    usages: Vec<UsageKeys>,
    /// 17/18: AES under DK(key, "prf"); 19/20: HMAC keyed with the base key.
    prf_aes: Option<AesKey>,
    prf_mac: Option<MacKey>,
}

impl Derived {
    fn wipe(&mut self) {
        for u in self.usages.iter_mut() {
            wipe_usage(u);
        }
        self.usages.clear();
        if let Some(a) = self.prf_aes.as_mut() {
            wipe_pod(a);
        }
        if let Some(m) = self.prf_mac.as_mut() {
            wipe_pod(m);
        }
        self.prf_aes = None;
        self.prf_mac = None;
    }

    /// Index of the cache entry of `usage`, created (and the oldest entry
    /// evicted and wiped when the cache is full) if missing.
    fn entry(&mut self, usage: u32) -> usize {
        if let Some(i) = self.usages.iter().position(|u| u.usage == usage) {
            return i;
        }
        if self.usages.len() >= MAX_CACHED_USAGES {
            let mut old = self.usages.remove(0);
            wipe_usage(&mut old);
        }
        self.usages.push(UsageKeys { usage, kc: None, ke_ki: None });
        self.usages.len() - 1
    }
}

impl Drop for Derived {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// A protocol key with its derived-key cache. A clone has its own copy of
/// the key octets and shares the derived-key cache with the original (keys
/// derived through either serve both); each copy's `wipe` zeroes its octets,
/// and the shared derived keys are zeroed when the last copy is wiped.
#[derive(Clone)]
pub struct KeyState {
    /// The enctype.
    pub et: Enctype,
    bytes: Vec<u8>,
    derived: Rc<RefCell<Derived>>,
}

/// Cache bound per key: KINK uses usages 39 and 40, Kerberos a handful more.
const MAX_CACHED_USAGES: usize = 16;

/// PRF variants for 17/18 (identical for 19/20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrfMode {
    /// RFC 3961 §5.3 read literally with RFC 3962's m = 1: AES-CTS of the
    /// whole 20-octet SHA-1, 20 octets out (racoon2 kinkd).
    Racoon2,
    /// MIT krb5 / Heimdal `krb5_c_prf`: SHA-1 truncated to one block, 16 octets out.
    Mit,
}

impl KeyState {
    /// Creates a key, validating its length.
    pub fn new(et: Enctype, bytes: &[u8]) -> Result<KeyState, Error> {
        if bytes.len() != et.key_len() {
            return Err(Error::KeyLength);
        }
        Ok(KeyState { et, bytes: bytes.to_vec(), derived: Rc::new(RefCell::new(Derived::default())) })
    }

    /// The key bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn with_kc<R>(&mut self, usage: u32, f: impl FnOnce(&MacKey) -> R) -> R {
        let et = self.et;
        let mut d = self.derived.borrow_mut();
        let i = d.entry(usage);
        if d.usages[i].kc.is_none() {
            let mut kc = derive_usage_key(et, &self.bytes, usage, Role::Kc);
            d.usages[i].kc = Some(MacKey::new(et.hash(), &kc));
            kc.zeroize();
        }
        f(d.usages[i].kc.as_ref().expect("set above"))
    }

    fn with_ke_ki<R>(&mut self, usage: u32, f: impl FnOnce(&AesKey, &MacKey) -> R) -> R {
        let et = self.et;
        let mut d = self.derived.borrow_mut();
        let i = d.entry(usage);
        if d.usages[i].ke_ki.is_none() {
            let mut ke = derive_usage_key(et, &self.bytes, usage, Role::Ke);
            let mut ki = derive_usage_key(et, &self.bytes, usage, Role::Ki);
            let pair = (AesKey::new(&ke).expect("derived key length"), MacKey::new(et.hash(), &ki));
            ke.zeroize();
            ki.zeroize();
            d.usages[i].ke_ki = Some(pair);
        }
        let (a, m) = d.usages[i].ke_ki.as_ref().expect("set above");
        f(a, m)
    }

    /// RFC 3961 encrypt with the given confounder (initial cipher state zero).
    pub fn encrypt(&mut self, usage: u32, confounder: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        if confounder.len() != CONFOUNDER {
            return Err(Error::InvalidInput);
        }
        let mut out = Vec::with_capacity(CONFOUNDER + plaintext.len() + self.et.mac_len());
        out.extend_from_slice(confounder);
        out.extend_from_slice(plaintext);
        out.resize(out.len() + self.et.mac_len(), 0);
        self.encrypt_in_place(usage, &mut out)?;
        Ok(out)
    }

    /// Encrypts `buf` = confounder (16) ‖ plaintext ‖ room for the tag
    /// (mac_len octets) in place, leaving C ‖ H.
    pub fn encrypt_in_place(&mut self, usage: u32, buf: &mut [u8]) -> Result<(), Error> {
        let et = self.et;
        let h = et.mac_len();
        if buf.len() < CONFOUNDER + h {
            return Err(Error::InvalidInput);
        }
        let n = buf.len() - h;
        self.with_ke_ki(usage, |ke, ki| {
            let iv = [0u8; BLOCK];
            let (body, tag_room) = buf.split_at_mut(n);
            if et.is_sha2() {
                cts_encrypt(ke, &iv, body).expect("n ≥ 16");
                let tag = ki.mac(&[&iv, body]);
                tag_room.copy_from_slice(&tag.as_slice()[..h]);
            } else {
                let tag = ki.mac(&[body]);
                cts_encrypt(ke, &iv, body).expect("n ≥ 16");
                tag_room.copy_from_slice(&tag.as_slice()[..h]);
            }
        });
        Ok(())
    }

    /// RFC 3961 decrypt; returns the plaintext without the confounder.
    pub fn decrypt(&mut self, usage: u32, ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
        let mut buf = ciphertext.to_vec();
        self.decrypt_in_place(usage, &mut buf)?;
        let h = self.et.mac_len();
        let out = buf[CONFOUNDER..buf.len() - h].to_vec();
        buf.zeroize();
        Ok(out)
    }

    /// Decrypts `buf` = C ‖ H in place: on success the plaintext is at
    /// `buf[16 .. len - mac_len]`; on an integrity failure `buf` is zeroed
    /// (no unauthenticated plaintext is left behind).
    pub fn decrypt_in_place(&mut self, usage: u32, buf: &mut [u8]) -> Result<(), Error> {
        let et = self.et;
        let h = et.mac_len();
        if buf.len() < CONFOUNDER + h {
            return Err(Error::ShortCiphertext);
        }
        let n = buf.len() - h;
        let r = self.with_ke_ki(usage, |ke, ki| {
            let iv = [0u8; BLOCK];
            let (body, tag) = buf.split_at_mut(n);
            if et.is_sha2() {
                let want = ki.mac(&[&iv, body]);
                if !bool::from(want.as_slice()[..h].ct_eq(tag)) {
                    return Err(Error::Integrity);
                }
                cts_decrypt(ke, &iv, body).expect("n ≥ 16");
                Ok(())
            } else {
                cts_decrypt(ke, &iv, body).expect("n ≥ 16");
                let want = ki.mac(&[body]);
                if !bool::from(want.as_slice()[..h].ct_eq(tag)) {
                    return Err(Error::Integrity);
                }
                Ok(())
            }
        });
        if r.is_err() {
            buf.zeroize();
        }
        r
    }

    /// get_mic with the enctype's mandatory checksum (types 15, 16, 19, 20).
    pub fn get_mic(&mut self, usage: u32, data: &[u8]) -> Vec<u8> {
        let h = self.et.mac_len();
        self.with_kc(usage, |kc| kc.mac(&[data]).as_slice()[..h].to_vec())
    }

    /// get_mic into `out` (exactly mac_len octets).
    pub fn get_mic_into(&mut self, usage: u32, data: &[u8], out: &mut [u8]) {
        let h = self.et.mac_len();
        self.with_kc(usage, |kc| {
            let m = kc.mac(&[data]);
            out.copy_from_slice(&m.as_slice()[..h]);
        })
    }

    /// verify_mic in constant time.
    pub fn verify_mic(&mut self, usage: u32, data: &[u8], mic: &[u8]) -> bool {
        let h = self.et.mac_len();
        if mic.len() != h {
            return false;
        }
        self.with_kc(usage, |kc| bool::from(kc.mac(&[data]).as_slice()[..h].ct_eq(mic)))
    }

    /// The enctype's pseudo-random function over the concatenation of `parts`.
    pub fn prf(&mut self, parts: &[&[u8]], mode: PrfMode) -> Vec<u8> {
        let et = self.et;
        let mut d = self.derived.borrow_mut();
        if et.is_sha2() {
            if d.prf_mac.is_none() {
                d.prf_mac = Some(MacKey::new(et.hash(), &self.bytes));
            }
            let mk = d.prf_mac.as_ref().expect("set above");
            let bits: u32 = if et == Enctype::Aes128Sha256 { 256 } else { 384 };
            let mut v: Vec<&[u8]> = Vec::with_capacity(parts.len() + 4);
            v.push(&[0, 0, 0, 1]);
            v.push(b"prf");
            v.push(&[0]);
            v.extend_from_slice(parts);
            let kb = bits.to_be_bytes();
            v.push(&kb);
            return mk.mac(&v).as_slice().to_vec();
        }
        if d.prf_aes.is_none() {
            let mut kp = derive_key(et, &self.bytes, b"prf", Role::Ke);
            d.prf_aes = Some(AesKey::new(&kp).expect("derived key length"));
            kp.zeroize();
        }
        let kp = d.prf_aes.as_ref().expect("set above");
        let mut hsh = Sha1::new();
        for p in parts {
            hsh.update(p);
        }
        let mut digest = hsh.finalize().to_vec();
        let iv = [0u8; BLOCK];
        match mode {
            PrfMode::Racoon2 => {
                cts_encrypt(kp, &iv, &mut digest).expect("20 ≥ 16");
                digest
            }
            PrfMode::Mit => {
                let mut b = [0u8; BLOCK];
                b.copy_from_slice(&digest[..BLOCK]);
                digest.zeroize();
                kp.enc(&mut b);
                let out = b.to_vec();
                b.zeroize();
                out
            }
        }
    }

    /// RFC 4430 §7 KEYMAT: K1 = prf(key, seed), Kn = prf(key, K(n-1) | seed),
    /// concatenated and truncated to `len` octets.
    pub fn keymat(&mut self, seed: &[u8], len: usize, mode: PrfMode) -> Vec<u8> {
        let mut out: Vec<u8> = Vec::with_capacity(len + 48);
        let mut prev: Vec<u8> = Vec::new();
        while out.len() < len {
            let k = self.prf(&[&prev, seed], mode);
            out.extend_from_slice(&k);
            prev.zeroize();
            prev = k;
        }
        prev.zeroize();
        out.truncate(len);
        out
    }

    /// Zeroes the key octets and lets go of the derived-key cache, which is
    /// wiped now unless a clone still shares it (then with the last clone).
    pub fn wipe(&mut self) {
        self.bytes.zeroize();
        // Dropping the last reference runs Derived's Drop, which wipes it.
        drop(core::mem::replace(&mut self.derived, Rc::new(RefCell::new(Derived::default()))));
    }
}

impl Drop for KeyState {
    fn drop(&mut self) {
        self.wipe();
    }
}

fn wipe_usage(u: &mut UsageKeys) {
    if let Some(m) = u.kc.as_mut() {
        wipe_pod(m);
    }
    if let Some((a, m)) = u.ke_ki.as_mut() {
        wipe_pod(a);
        wipe_pod(m);
    }
    u.kc = None;
    u.ke_ki = None;
}

/// Overwrites a heap-free value (AES key schedules, HMAC pad states) with
/// zeros through volatile writes. The value is then replaced by a freshly
/// built harmless one by the caller (set to `None`), so its (absent) drop
/// logic never sees the zeroed bytes as meaningful state.
fn wipe_pod<T>(v: &mut T) {
    // SAFETY: only used on types with no heap pointers or invariants whose
    // violation matters before the caller overwrites the enclosing Option:
    // AES round keys and HMAC digest cores are plain arrays and counters.
    unsafe {
        let p = v as *mut T as *mut u8;
        let s = core::slice::from_raw_parts_mut(p, core::mem::size_of::<T>());
        s.zeroize();
    }
}

/// RFC 3962 §4 / RFC 8009 §4 string-to-key; `iterations` from the params.
pub fn string_to_key(et: Enctype, password: &[u8], salt: &[u8], iterations: u32) -> Result<Vec<u8>, Error> {
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(Error::InvalidInput);
    }
    let kl = et.key_len();
    let mut tkey = vec![0u8; kl];
    let out = match et {
        Enctype::Aes128Sha1 | Enctype::Aes256Sha1 => {
            pbkdf2::pbkdf2::<Hmac<Sha1>>(password, salt, iterations, &mut tkey).map_err(|_| Error::InvalidInput)?;
            derive_key(et, &tkey, b"kerberos", Role::Ke)
        }
        Enctype::Aes128Sha256 | Enctype::Aes256Sha384 => {
            let mut saltp = Vec::with_capacity(et.name().len() + 1 + salt.len());
            saltp.extend_from_slice(et.name());
            saltp.push(0);
            saltp.extend_from_slice(salt);
            if et == Enctype::Aes128Sha256 {
                pbkdf2::pbkdf2::<Hmac<Sha256>>(password, &saltp, iterations, &mut tkey)
                    .map_err(|_| Error::InvalidInput)?;
                kdf_hmac_sha2(HashAlg::Sha256, &tkey, b"kerberos", &[], 128)
            } else {
                pbkdf2::pbkdf2::<Hmac<Sha384>>(password, &saltp, iterations, &mut tkey)
                    .map_err(|_| Error::InvalidInput)?;
                kdf_hmac_sha2(HashAlg::Sha384, &tkey, b"kerberos", &[], 256)
            }
        }
    };
    tkey.zeroize();
    Ok(out)
}

/// Raw PBKDF2 (vector tests).
pub fn pbkdf2_raw(alg: HashAlg, password: &[u8], salt: &[u8], iterations: u32, len: usize) -> Result<Vec<u8>, Error> {
    if iterations == 0 || iterations > MAX_ITERATIONS || len == 0 || len > 1024 {
        return Err(Error::InvalidInput);
    }
    let mut out = vec![0u8; len];
    let r = match alg {
        HashAlg::Sha1 => pbkdf2::pbkdf2::<Hmac<Sha1>>(password, salt, iterations, &mut out),
        HashAlg::Sha256 => pbkdf2::pbkdf2::<Hmac<Sha256>>(password, salt, iterations, &mut out),
        HashAlg::Sha384 => pbkdf2::pbkdf2::<Hmac<Sha384>>(password, salt, iterations, &mut out),
    };
    r.map_err(|_| Error::InvalidInput)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! Published vectors (RFC 3961 A.1, RFC 3962 B, RFC 8009 A) and the
    //! racoon2 KEYMAT of frames #7/#8, checked on the host.
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
    fn x(b: &[u8]) -> String {
        b.iter().map(|v| format!("{:02x}", v)).collect()
    }

    #[test]
    fn nfold_rfc3961_a1() {
        assert_eq!(x(&nfold(b"012345", 8)), "be072631276b1955");
        assert_eq!(x(&nfold(b"password", 7)), "78a07b6caf85fa");
        assert_eq!(x(&nfold(b"Rough Consensus, and Running Code", 8)), "bb6ed30870b7f0e0");
        assert_eq!(x(&nfold(b"password", 21)), "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e");
        assert_eq!(x(&nfold(b"Q", 21)), "518a54a215a8452a518a54a215a8452a518a54a215");
        assert_eq!(x(&nfold(b"ba", 21)), "fb25d531ae8974499f52fd92ea9857c4ba24cf297e");
        assert_eq!(x(&nfold(b"kerberos", 8)), "6b65726265726f73");
        assert_eq!(x(&nfold(b"kerberos", 16)), "6b65726265726f737b9b5b2b93132b93");
        assert_eq!(x(&nfold(b"kerberos", 21)), "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4");
    }

    #[test]
    fn cts_rfc3962_b() {
        let k = AesKey::new(b"chicken teriyaki").unwrap();
        let iv = [0u8; 16];
        let cases = [
            ("4920776f756c64206c696b652074686520", "c6353568f2bf8cb4d8a580362da7ff7f97"),
            (
                "4920776f756c64206c696b65207468652047656e6572616c20476175277320",
                "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5",
            ),
            (
                "4920776f756c64206c696b65207468652047656e6572616c2047617527732043",
                "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584",
            ),
        ];
        for (p, c) in cases {
            let mut d = h(p);
            cts_encrypt(&k, &iv, &mut d).unwrap();
            assert_eq!(x(&d), c);
            cts_decrypt(&k, &iv, &mut d).unwrap();
            assert_eq!(x(&d), p);
        }
    }

    #[test]
    fn string_to_key_rfc3962_b() {
        let k = string_to_key(Enctype::Aes128Sha1, b"password", b"ATHENA.MIT.EDUraeburn", 1).unwrap();
        assert_eq!(x(&k), "42263c6e89f4fc28b8df68ee09799f15");
        let k = string_to_key(Enctype::Aes256Sha1, b"password", b"ATHENA.MIT.EDUraeburn", 1).unwrap();
        assert_eq!(x(&k), "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161");
        assert_eq!(string_to_key(Enctype::Aes256Sha1, b"p", b"s", 0), Err(Error::InvalidInput));
        assert_eq!(string_to_key(Enctype::Aes256Sha1, b"p", b"s", MAX_ITERATIONS + 1), Err(Error::InvalidInput));
    }

    #[test]
    fn rfc8009_derivation_encryption_checksum_prf() {
        let base = h("3705d96080c17728a0e800eab6e0d23c");
        assert_eq!(x(&derive_usage_key(Enctype::Aes128Sha256, &base, 2, Role::Kc)), "b31a018a48f54776f403e9a396325dc3");
        assert_eq!(x(&derive_usage_key(Enctype::Aes128Sha256, &base, 2, Role::Ke)), "9b197dd1e8c5609d6e67c3e37c62c72e");
        assert_eq!(x(&derive_usage_key(Enctype::Aes128Sha256, &base, 2, Role::Ki)), "9fda0e56ab2d85e1569a688696c26a6c");
        let mut k = KeyState::new(Enctype::Aes128Sha256, &base).unwrap();
        let ct = k.encrypt(2, &h("7e5895eaf2672435bad817f545a37148"), &[]).unwrap();
        assert_eq!(x(&ct), "ef85fb890bb8472f4dab20394dca781dad877eda39d50c870c0d5a0a8e48c718");
        assert_eq!(k.decrypt(2, &ct).unwrap(), Vec::<u8>::new());
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(k.decrypt(2, &bad), Err(Error::Integrity));
        assert_eq!(k.decrypt(2, &ct[..31]), Err(Error::ShortCiphertext));
        let msg = h("000102030405060708090a0b0c0d0e0f1011121314");
        assert_eq!(x(&k.get_mic(2, &msg)), "d78367186643d67b411cba9139fc1dee");
        assert!(k.verify_mic(2, &msg, &h("d78367186643d67b411cba9139fc1dee")));
        assert!(!k.verify_mic(2, &msg, &h("d78367186643d67b411cba9139fc1def")));
        assert_eq!(
            x(&k.prf(&[b"test"], PrfMode::Racoon2)),
            "9d188616f63852fe86915bb840b4a886ff3e6bb0f819b49b893393d393854295"
        );
        let base20 = h("6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52");
        let mut k20 = KeyState::new(Enctype::Aes256Sha384, &base20).unwrap();
        assert_eq!(x(&k20.get_mic(2, &msg)), "45ee791567eefca37f4ac1e0222de80d43c3bfa06699672a");
        assert_eq!(
            x(&derive_usage_key(Enctype::Aes256Sha384, &base20, 2, Role::Ke)),
            "56ab22bee63d82d7bc5227f6773f8ea7a5eb1c825160c38312980c442e5c7e49"
        );
    }

    #[test]
    fn racoon2_keymat_frames_7_8() {
        // Session key from ../shared/interop/racoon2/README.md; the SPI and the
        // resulting keys from A-sadb.log / B-sadb.log; Ni from frame #7
        // (decrypted with the same key in the Deno tests).
        let sk = h("67373e19427b49563cd3c66cb88f01f837a1acf1f2a2a3b5f4721b105b19ec90");
        let mut k = KeyState::new(Enctype::Aes256Sha1, &sk).unwrap();
        let mut seed = vec![3u8, 0x05, 0x97, 0x4a, 0xb7];
        seed.extend_from_slice(&NI_FRAME7);
        let km = k.keymat(&seed, 36, PrfMode::Racoon2);
        assert_eq!(x(&km[..16]), "0fa176eecd6aff86b1c4ba2068e7722d");
        assert_eq!(x(&km[16..]), "51ef296ac2b9c6a710c9e5181f5b6d093b6e1e4d");
        let mit = k.keymat(&seed, 36, PrfMode::Mit);
        assert_ne!(x(&mit[..16]), "0fa176eecd6aff86b1c4ba2068e7722d");
    }

    // Body of the Nonce payload inside frame #7's KINK_ENCRYPT (the Deno
    // racoon2 test extracts it from the capture itself).
    const NI_FRAME7: [u8; 16] = [
        0x5b, 0xbb, 0xb6, 0xae, 0x43, 0xb6, 0x52, 0x29, 0x71, 0x98, 0x13, 0xd7, 0xba, 0xb5, 0x8a, 0x07,
    ];

    #[test]
    fn unsupported_and_lengths() {
        assert_eq!(Enctype::from_number(23), Err(Error::UnsupportedEnctype));
        assert_eq!(Enctype::from_number(16), Err(Error::UnsupportedEnctype));
        assert!(KeyState::new(Enctype::Aes128Sha1, &[0u8; 32]).is_err());
        let mut k = KeyState::new(Enctype::Aes128Sha1, &[1u8; 16]).unwrap();
        assert_eq!(k.encrypt(1, &[0u8; 15], b""), Err(Error::InvalidInput));
        assert_eq!(k.decrypt(1, &[0u8; 27]), Err(Error::ShortCiphertext));
        let ct = k.encrypt(1, &[9u8; 16], b"abc").unwrap();
        assert_eq!(ct.len(), 16 + 3 + 12);
        assert_eq!(k.decrypt(1, &ct).unwrap(), b"abc");
        assert_eq!(k.prf(&[b"x"], PrfMode::Racoon2).len(), 20);
        assert_eq!(k.prf(&[b"x"], PrfMode::Mit).len(), 16);
        // CTS swaps the last two blocks: racoon2's octets 16..20 are MIT's 0..4.
        let r = k.prf(&[b"x"], PrfMode::Racoon2);
        let m = k.prf(&[b"x"], PrfMode::Mit);
        assert_eq!(&r[16..20], &m[0..4]);
        k.wipe();
        assert!(k.bytes().iter().all(|&b| b == 0));
    }

    #[test]
    fn clone_shares_derived_keys() {
        let mut a = KeyState::new(Enctype::Aes256Sha1, &[7u8; 32]).unwrap();
        let mut b = a.clone();
        // Derived through the clone, used through the original, and the other way round.
        let ct = b.encrypt(39, &[3u8; 16], b"payload").unwrap();
        assert_eq!(Rc::strong_count(&a.derived), 2);
        assert_eq!(a.derived.borrow().usages.len(), 1);
        assert_eq!(a.decrypt(39, &ct).unwrap(), b"payload");
        let mic = a.get_mic(40, b"msg");
        assert!(b.verify_mic(40, b"msg", &mic));
        assert_eq!(a.keymat(b"seed", 36, PrfMode::Racoon2), b.keymat(b"seed", 36, PrfMode::Racoon2));
        // Wiping the clone zeroes its octets and leaves the original whole.
        b.wipe();
        assert!(b.bytes().iter().all(|&x| x == 0));
        assert_eq!(Rc::strong_count(&a.derived), 1);
        assert_eq!(a.decrypt(39, &ct).unwrap(), b"payload");
        a.wipe();
        assert!(a.derived.borrow().usages.is_empty());
    }
}
