//! `fpu` and `avx`.
//!
//! `fpu`: before `READY` the x87 control word is loaded with rounding
//! toward zero, 53-bit precision and all exceptions masked (`fldcw`
//! 0x0e7f), and MXCSR with flush-to-zero, rounding up, all exceptions
//! masked and the sticky denormal and divide-by-zero flags set (`ldmxcsr`
//! 0xdf86). A round, run at setup, every 10 ms while waiting and at the
//! end, checks: `fnstcw` gives what it gave right after the `fldcw`;
//! MXCSR's control bits are as set and the two flags still set (flags
//! only ever get added); `divsd` 1/3 rounds up (0x3fd5555555555556, not
//! …555); `mulsd` 1e-300 × 1e-10 flushes to +0 (not a denormal); x87
//! `fdiv` 1/10 stored as a double is truncated (0x3fb9999999999999, not
//! …999a) and stored as 80 bits has a 53-bit mantissa
//! (0xccccccccccccc800, exponent 0x3ffb); and eight 80-bit values loaded
//! into st0..st7 before an assembly loop of about 10 ms that swaps st0 and
//! st1 each time come out exactly as loaded (swapped if the count is odd).
//!
//! `avx`: a round every 10 ms while waiting (and one at setup): xmm0..=14
//! are loaded with 15 random 128-bit values and xmm15 with an increment,
//! then an assembly loop of about 20 ms adds xmm15 to each of them (as two
//! 64-bit lanes, `paddq`) on every iteration; with AVX, ymm0..=14 are
//! loaded with random 256-bit values and ymm15 with a key, and a second
//! 20 ms loop XORs the key into each (`vxorps`). Each register must end as
//! its start plus count × increment, resp. its start XOR (key if the count
//! is odd). The loops take most of the process's time, so a move is
//! likely to catch it inside one (on one CPU, a process preempted there
//! is captured there), and then its registers must go with it.
//! The iteration counts are calibrated at setup.

use super::super::rounds::Rounds;
use super::super::Check;
use super::word;
use std::arch::asm;
use std::sync::Mutex;

const CW: u16 = 0x0e7f;
const MXCSR_FTZ: u32 = 0x8000;
const MXCSR_RC_UP: u32 = 0x4000;
const MXCSR_MASKS: u32 = 0x1f80;
/// Sticky flags set: denormal (DE) and divide-by-zero (ZE).
const MXCSR_FLAGS: u32 = 0x0006;
const MXCSR: u32 = MXCSR_FTZ | MXCSR_RC_UP | MXCSR_MASKS | MXCSR_FLAGS;

struct Fpu {
    /// `fnstcw` right after the `fldcw`.
    cw: u16,
    /// Loop count of the x87 spin (about 10 ms).
    iters: u64,
    x87: [u8; 80],
    rounds: Rounds,
}

static FPU: Mutex<Option<Fpu>> = Mutex::new(None);

fn fnstcw() -> u16 {
    let mut cw = 0u16;
    // SAFETY: stores the control word into `cw`.
    unsafe { asm!("fnstcw word ptr [{}]", in(reg) &mut cw, options(nostack)) };
    cw
}

fn stmxcsr() -> u32 {
    let mut m = 0u32;
    // SAFETY: stores MXCSR into `m`.
    unsafe { asm!("stmxcsr dword ptr [{}]", in(reg) &mut m, options(nostack)) };
    m
}

/// `a / b` with `divsd` (rounded as MXCSR says).
fn divsd(a: f64, b: f64) -> u64 {
    let r: f64;
    // SAFETY: arithmetic on registers.
    unsafe { asm!("divsd {x}, {y}", x = inout(xmm_reg) a => r, y = in(xmm_reg) b, options(nomem, nostack, pure)) };
    r.to_bits()
}

/// `a * b` with `mulsd`.
fn mulsd(a: f64, b: f64) -> u64 {
    let r: f64;
    // SAFETY: arithmetic on registers.
    unsafe { asm!("mulsd {x}, {y}", x = inout(xmm_reg) a => r, y = in(xmm_reg) b, options(nomem, nostack, pure)) };
    r.to_bits()
}

/// 1/10 with x87 `fdiv`: stored as a double, and as 80 bits (mantissa,
/// sign and exponent).
fn x87_tenth() -> (u64, u64, u16) {
    let (one, ten) = (std::hint::black_box(1.0f64), std::hint::black_box(10.0f64));
    let mut d = 0u64;
    let mut t = [0u8; 10];
    // SAFETY: loads two doubles, leaves the x87 stack empty again, stores
    // 8 and 10 bytes into `d` and `t`.
    unsafe {
        asm!(
            "fld qword ptr [{one}]",
            "fdiv qword ptr [{ten}]",
            "fst qword ptr [{d}]",
            "fstp tbyte ptr [{t}]",
            one = in(reg) &one, ten = in(reg) &ten, d = in(reg) &mut d, t = in(reg) t.as_mut_ptr(),
            options(nostack),
        )
    };
    (u64::from_le_bytes(t[..8].try_into().unwrap_or_default()), d, u16::from_le_bytes([t[8], t[9]]))
}

/// Loads the eight 80-bit values at `init` (st0 = the first), swaps st0
/// and st1 `iters` times, and stores st0..st7 to `out`.
fn x87_spin(init: &[u8; 80], out: &mut [u8; 80], iters: u64) {
    // SAFETY: the x87 stack is empty by the ABI; eight loads fill it and
    // eight pops empty it; reads and writes 80 bytes of each buffer.
    unsafe {
        asm!(
            "fld tbyte ptr [{i} + 70]", "fld tbyte ptr [{i} + 60]", "fld tbyte ptr [{i} + 50]", "fld tbyte ptr [{i} + 40]",
            "fld tbyte ptr [{i} + 30]", "fld tbyte ptr [{i} + 20]", "fld tbyte ptr [{i} + 10]", "fld tbyte ptr [{i}]",
            "2:",
            "fxch st(1)",
            "dec rcx",
            "jnz 2b",
            "fstp tbyte ptr [{o}]", "fstp tbyte ptr [{o} + 10]", "fstp tbyte ptr [{o} + 20]", "fstp tbyte ptr [{o} + 30]",
            "fstp tbyte ptr [{o} + 40]", "fstp tbyte ptr [{o} + 50]", "fstp tbyte ptr [{o} + 60]", "fstp tbyte ptr [{o} + 70]",
            i = in(reg) init.as_ptr(), o = in(reg) out.as_mut_ptr(), inout("rcx") iters.max(1) => _,
            clobber_abi("C"), options(nostack),
        )
    };
}

/// Eight valid 80-bit values (integer bit set, moderate exponents).
fn x87_values() -> [u8; 80] {
    let mut v = [0u8; 80];
    for k in 0..8 {
        let mant = word(0x87, k) | (1 << 63);
        let se = (0x3fff - 40 + (word(0x88, k) % 80) as u16) | if k % 3 == 0 { 0x8000 } else { 0 };
        v[k * 10..k * 10 + 8].copy_from_slice(&mant.to_le_bytes());
        v[k * 10 + 8..k * 10 + 10].copy_from_slice(&se.to_le_bytes());
    }
    v
}

/// Iterations of `spin(iters)` for about `ms` ms here.
fn calibrate(ms: f64, spin: impl Fn(u64)) -> u64 {
    let n = 200_000u64;
    let t0 = std::time::Instant::now();
    spin(n);
    let took = t0.elapsed().as_secs_f64() * 1000.0;
    ((n as f64 * ms / took.max(1e-3)) as u64).clamp(10_000, 2_000_000_000)
}

fn fpu_round(st: &Fpu) -> Result<(), String> {
    let cw = fnstcw();
    if cw != st.cw {
        return Err(format!("x87 control word {cw:#06x}, set {:#06x}", st.cw));
    }
    let m = stmxcsr();
    if m & 0xffc0 != MXCSR & 0xffc0 || m & MXCSR_FLAGS != MXCSR_FLAGS {
        return Err(format!("MXCSR {m:#06x}: control bits should be {:#06x} and flags {MXCSR_FLAGS:#x} set", MXCSR & 0xffc0));
    }
    let third = divsd(std::hint::black_box(1.0), std::hint::black_box(3.0));
    if third != 0x3fd5_5555_5555_5556 {
        return Err(format!("divsd 1/3 = {third:#018x}, rounded up should be 0x3fd5555555555556"));
    }
    let tiny = mulsd(std::hint::black_box(1e-300), std::hint::black_box(1e-10));
    if tiny != 0 {
        return Err(format!("mulsd 1e-300 * 1e-10 = {tiny:#018x}, flushed to zero should be 0"));
    }
    let (mant, d, se) = x87_tenth();
    if d != 0x3fb9_9999_9999_9999 || mant != 0xcccc_cccc_cccc_c800 || se != 0x3ffb {
        return Err(format!(
            "x87 1/10 = {d:#018x} as a double, mantissa {mant:#018x} exponent {se:#06x}; expected 0x3fb9999999999999, 0xccccccccccccc800, 0x3ffb"
        ));
    }
    let mut out = [0u8; 80];
    x87_spin(&st.x87, &mut out, st.iters);
    let mut want = st.x87;
    if st.iters % 2 == 1 {
        want[..20].rotate_left(10);
    }
    if out != want {
        let k = (0..8).find(|&k| out[k * 10..k * 10 + 10] != want[k * 10..k * 10 + 10]).unwrap_or(0);
        return Err(format!("x87 st{k} after {} swaps: {:02x?}, expected {:02x?}", st.iters, &out[k * 10..k * 10 + 10], &want[k * 10..k * 10 + 10]));
    }
    Ok(())
}

pub(super) fn fpu() -> Check {
    let x87 = x87_values();
    let iters = calibrate(10.0, |n| x87_spin(&x87, &mut [0u8; 80], n));
    let (cw, m) = (CW, MXCSR);
    // SAFETY: loads the control word and MXCSR; all exceptions stay masked.
    unsafe { asm!("fldcw word ptr [{}]", "ldmxcsr dword ptr [{}]", in(reg) &cw, in(reg) &m, options(nostack, readonly)) };
    let mut st = Fpu { cw: fnstcw(), iters, x87, rounds: Rounds::default() };
    if st.cw & 0x0f3f != CW & 0x0f3f {
        return super::failed_at_home(format!("fldcw {CW:#06x} gave {:#06x}", st.cw));
    }
    let first = fpu_round(&st);
    st.rounds.record(first);
    *FPU.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let st = FPU.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        fpu_round(&st)?;
        st.rounds.verdict()
    })
}

/// Every 10 ms: a round.
pub(super) fn fpu_tick(_: u64) {
    if let Some(st) = FPU.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        let r = fpu_round(st);
        st.rounds.record(r);
    }
}

struct Avx {
    has_avx: bool,
    xmm_iters: u64,
    ymm_iters: u64,
    rounds: Rounds,
}

static AVX: Mutex<Option<Avx>> = Mutex::new(None);

/// Loads xmm0..=14 from `init` and xmm15 from `inc`, adds xmm15 to each
/// (two 64-bit lanes) `iters` times, stores xmm0..=14 to `out`.
fn xmm_spin(init: &[[u64; 2]; 15], inc: &[u64; 2], out: &mut [[u64; 2]; 15], iters: u64) {
    // SAFETY: reads `init` and `inc`, writes `out` (15 × 16 bytes); the
    // vector registers are declared clobbered.
    unsafe {
        asm!(
            "movdqu xmm15, [{c}]",
            "movdqu xmm0, [{i}]", "movdqu xmm1, [{i} + 16]", "movdqu xmm2, [{i} + 32]", "movdqu xmm3, [{i} + 48]",
            "movdqu xmm4, [{i} + 64]", "movdqu xmm5, [{i} + 80]", "movdqu xmm6, [{i} + 96]", "movdqu xmm7, [{i} + 112]",
            "movdqu xmm8, [{i} + 128]", "movdqu xmm9, [{i} + 144]", "movdqu xmm10, [{i} + 160]", "movdqu xmm11, [{i} + 176]",
            "movdqu xmm12, [{i} + 192]", "movdqu xmm13, [{i} + 208]", "movdqu xmm14, [{i} + 224]",
            "2:",
            "paddq xmm0, xmm15", "paddq xmm1, xmm15", "paddq xmm2, xmm15", "paddq xmm3, xmm15", "paddq xmm4, xmm15",
            "paddq xmm5, xmm15", "paddq xmm6, xmm15", "paddq xmm7, xmm15", "paddq xmm8, xmm15", "paddq xmm9, xmm15",
            "paddq xmm10, xmm15", "paddq xmm11, xmm15", "paddq xmm12, xmm15", "paddq xmm13, xmm15", "paddq xmm14, xmm15",
            "dec rcx",
            "jnz 2b",
            "movdqu [{o}], xmm0", "movdqu [{o} + 16], xmm1", "movdqu [{o} + 32], xmm2", "movdqu [{o} + 48], xmm3",
            "movdqu [{o} + 64], xmm4", "movdqu [{o} + 80], xmm5", "movdqu [{o} + 96], xmm6", "movdqu [{o} + 112], xmm7",
            "movdqu [{o} + 128], xmm8", "movdqu [{o} + 144], xmm9", "movdqu [{o} + 160], xmm10", "movdqu [{o} + 176], xmm11",
            "movdqu [{o} + 192], xmm12", "movdqu [{o} + 208], xmm13", "movdqu [{o} + 224], xmm14",
            i = in(reg) init.as_ptr(), c = in(reg) inc.as_ptr(), o = in(reg) out.as_mut_ptr(), inout("rcx") iters.max(1) => _,
            clobber_abi("C"), options(nostack),
        )
    };
}

/// Loads ymm0..=14 from `init` and ymm15 from `key`, XORs ymm15 into each
/// `iters` times, stores ymm0..=14 to `out`.
///
/// # Safety
/// The CPU must have AVX.
#[target_feature(enable = "avx")]
unsafe fn ymm_spin(init: &[[u64; 4]; 15], key: &[u64; 4], out: &mut [[u64; 4]; 15], iters: u64) {
    // SAFETY: reads `init` and `key`, writes `out` (15 × 32 bytes); the
    // vector registers are declared clobbered; AVX is there (the caller's
    // promise).
    unsafe {
        asm!(
            "vmovdqu ymm15, [{c}]",
            "vmovdqu ymm0, [{i}]", "vmovdqu ymm1, [{i} + 32]", "vmovdqu ymm2, [{i} + 64]", "vmovdqu ymm3, [{i} + 96]",
            "vmovdqu ymm4, [{i} + 128]", "vmovdqu ymm5, [{i} + 160]", "vmovdqu ymm6, [{i} + 192]", "vmovdqu ymm7, [{i} + 224]",
            "vmovdqu ymm8, [{i} + 256]", "vmovdqu ymm9, [{i} + 288]", "vmovdqu ymm10, [{i} + 320]", "vmovdqu ymm11, [{i} + 352]",
            "vmovdqu ymm12, [{i} + 384]", "vmovdqu ymm13, [{i} + 416]", "vmovdqu ymm14, [{i} + 448]",
            "2:",
            "vxorps ymm0, ymm0, ymm15", "vxorps ymm1, ymm1, ymm15", "vxorps ymm2, ymm2, ymm15", "vxorps ymm3, ymm3, ymm15",
            "vxorps ymm4, ymm4, ymm15", "vxorps ymm5, ymm5, ymm15", "vxorps ymm6, ymm6, ymm15", "vxorps ymm7, ymm7, ymm15",
            "vxorps ymm8, ymm8, ymm15", "vxorps ymm9, ymm9, ymm15", "vxorps ymm10, ymm10, ymm15", "vxorps ymm11, ymm11, ymm15",
            "vxorps ymm12, ymm12, ymm15", "vxorps ymm13, ymm13, ymm15", "vxorps ymm14, ymm14, ymm15",
            "dec rcx",
            "jnz 2b",
            "vmovdqu [{o}], ymm0", "vmovdqu [{o} + 32], ymm1", "vmovdqu [{o} + 64], ymm2", "vmovdqu [{o} + 96], ymm3",
            "vmovdqu [{o} + 128], ymm4", "vmovdqu [{o} + 160], ymm5", "vmovdqu [{o} + 192], ymm6", "vmovdqu [{o} + 224], ymm7",
            "vmovdqu [{o} + 256], ymm8", "vmovdqu [{o} + 288], ymm9", "vmovdqu [{o} + 320], ymm10", "vmovdqu [{o} + 352], ymm11",
            "vmovdqu [{o} + 384], ymm12", "vmovdqu [{o} + 416], ymm13", "vmovdqu [{o} + 448], ymm14",
            "vzeroupper",
            i = in(reg) init.as_ptr(), c = in(reg) key.as_ptr(), o = in(reg) out.as_mut_ptr(), inout("rcx") iters.max(1) => _,
            clobber_abi("C"), options(nostack),
        )
    };
}

fn ymm(has_avx: bool, init: &[[u64; 4]; 15], key: &[u64; 4], out: &mut [[u64; 4]; 15], iters: u64) {
    if has_avx {
        // SAFETY: the CPU has AVX (`is_x86_feature_detected!`).
        unsafe { ymm_spin(init, key, out, iters) };
    }
}

/// One round with values from `seed`.
fn avx_round(st: &Avx, seed: u64) -> Result<(), String> {
    let w = |k: usize| word(seed, k);
    let xi: [[u64; 2]; 15] = std::array::from_fn(|r| [w(2 * r), w(2 * r + 1)]);
    let inc = [w(100) | 1, w(101) | 1];
    let mut xo = [[0u64; 2]; 15];
    xmm_spin(&xi, &inc, &mut xo, st.xmm_iters);
    let n = st.xmm_iters.max(1);
    for r in 0..15 {
        let want = [xi[r][0].wrapping_add(n.wrapping_mul(inc[0])), xi[r][1].wrapping_add(n.wrapping_mul(inc[1]))];
        if xo[r] != want {
            return Err(format!("xmm{r} after {n} additions: {:x?}, expected {:x?}", xo[r], want));
        }
    }
    if !st.has_avx {
        return Ok(());
    }
    let yi: [[u64; 4]; 15] = std::array::from_fn(|r| std::array::from_fn(|l| w(200 + 4 * r + l)));
    let key: [u64; 4] = std::array::from_fn(|l| w(300 + l) | 1);
    let mut yo = [[0u64; 4]; 15];
    ymm(true, &yi, &key, &mut yo, st.ymm_iters);
    let odd = st.ymm_iters.max(1) % 2 == 1;
    for r in 0..15 {
        let want: [u64; 4] = std::array::from_fn(|l| if odd { yi[r][l] ^ key[l] } else { yi[r][l] });
        if yo[r] != want {
            return Err(format!("ymm{r} after {} XORs: {:x?}, expected {:x?}", st.ymm_iters.max(1), yo[r], want));
        }
    }
    Ok(())
}

pub(super) fn avx() -> Check {
    let has_avx = std::is_x86_feature_detected!("avx");
    let (xi, inc) = ([[1u64; 2]; 15], [1u64; 2]);
    let xmm_iters = calibrate(20.0, |n| xmm_spin(&xi, &inc, &mut [[0; 2]; 15], n));
    let (yi, key) = ([[1u64; 4]; 15], [1u64; 4]);
    let ymm_iters = if has_avx { calibrate(20.0, |n| ymm(true, &yi, &key, &mut [[0; 4]; 15], n)) } else { 0 };
    let mut st = Avx { has_avx, xmm_iters, ymm_iters, rounds: Rounds::default() };
    let first = avx_round(&st, 1);
    st.rounds.record(first);
    *AVX.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
    Box::new(|| {
        let st = AVX.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or("no state")?;
        st.rounds.verdict()
    })
}

/// Every 10 ms: a round.
pub(super) fn avx_tick(n: u64) {
    if let Some(st) = AVX.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        let r = avx_round(st, n + 2);
        st.rounds.record(r);
    }
}
