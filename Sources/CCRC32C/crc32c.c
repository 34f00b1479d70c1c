// CRC-32C, reflected polynomial 0x82F63B78. Hardware path on x86-64 with SSE4.2, chosen
// once at first use; portable slicing-by-8 otherwise. Both give identical results.
#include "crc32c.h"

#include <string.h>

#define POLY 0x82F63B78u

static uint32_t table[8][256];
static int table_ready;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) crc = (crc & 1) ? (crc >> 1) ^ POLY : crc >> 1;
        table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = table[0][n];
        for (int k = 1; k < 8; k++) {
            crc = table[0][crc & 0xff] ^ (crc >> 8);
            table[k][n] = crc;
        }
    }
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

static uint32_t crc32c_software(uint32_t crc, const unsigned char *p, size_t n) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) build_table();
    crc = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= crc;
        crc = table[7][word & 0xff] ^ table[6][(word >> 8) & 0xff] ^ table[5][(word >> 16) & 0xff] ^
              table[4][(word >> 24) & 0xff] ^ table[3][(word >> 32) & 0xff] ^ table[2][(word >> 40) & 0xff] ^
              table[1][(word >> 48) & 0xff] ^ table[0][word >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
#include <wmmintrin.h>

// Three streams at once. The CRC32 instruction takes 3 cycles and the CPU can start one
// every cycle, so one chain of them over a record runs at a third of the speed the CPU
// allows. For a buffer of 3 blocks A, B, C of L bytes each, the CRC register is linear:
//   crc(c, A B C) = shift(crc(c, A), 2L) ^ shift(crc(0, B), L) ^ crc(0, C)
// where shift(r, L) is r times x^(8L) mod P: three independent chains, then two shifts.
// A shift is one carry-less multiplication by K = x^(8L-33) mod P and a CRC32 of the 64-bit
// product from a zero state: the product of two reflected 32-bit values is the product of
// their polynomials times x, and the CRC32 of 64 data bits multiplies them by x^32 mod P,
// so r becomes r * K * x^33 = r * x^(8L) mod P. Same result as one chain, bit for bit.
#define MAX_BLOCK_WORDS 64                  // L up to 512 bytes: buffers up to 1,536 bytes per pass
#define MIN_BLOCK_WORDS 4                   // below 3 x 32 bytes, one chain is as fast
static uint32_t shift_constant[2 * MAX_BLOCK_WORDS + 1];  // x^(64k-33) mod P, reflected, for a shift of k words
static int shift_ready;

static void build_shift_constants(void) {
    // x^m mod P for m = 0, 1, 2, ... (reflected: x^0 is the top bit), kept at m = 64k - 33.
    uint32_t power = 0x80000000u;
    int k = 1;
    for (int m = 0; k <= 2 * MAX_BLOCK_WORDS; m++) {
        if (m == 64 * k - 33) shift_constant[k++] = power;
        power = (power & 1) ? (power >> 1) ^ POLY : power >> 1;
    }
    __atomic_store_n(&shift_ready, 1, __ATOMIC_RELEASE);
}

__attribute__((target("sse4.2,pclmul")))
static inline uint64_t crc32c_shift(uint64_t crc, int words) {
    __m128i product = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)crc),
                                           _mm_cvtsi32_si128((int)shift_constant[words]), 0x00);
    return __builtin_ia32_crc32di(0, (uint64_t)_mm_cvtsi128_si64(product));
}

__attribute__((target("sse4.2,pclmul")))
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = ~crc;
    // x86 loads unaligned words at full speed: no byte-wise start to reach an alignment.
    if (n >= 3 * 8 * MIN_BLOCK_WORDS) {
        if (!__atomic_load_n(&shift_ready, __ATOMIC_ACQUIRE)) build_shift_constants();
        while (n >= 3 * 8 * MIN_BLOCK_WORDS) {
            size_t k = n / 24;
            if (k > MAX_BLOCK_WORDS) k = MAX_BLOCK_WORDS;
            uint64_t a = c, b = 0, d = 0;
            const unsigned char *pb = p + 8 * k, *pd = p + 16 * k;
            for (size_t i = 0; i < k; i++) {
                uint64_t wa, wb, wd;
                memcpy(&wa, p + 8 * i, 8);
                memcpy(&wb, pb + 8 * i, 8);
                memcpy(&wd, pd + 8 * i, 8);
                a = __builtin_ia32_crc32di(a, wa);
                b = __builtin_ia32_crc32di(b, wb);
                d = __builtin_ia32_crc32di(d, wd);
            }
            c = crc32c_shift(a, (int)(2 * k)) ^ crc32c_shift(b, (int)k) ^ d;
            p += 24 * k;
            n -= 24 * k;
        }
    }
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        n -= 8;
    }
    if (n >= 4) {
        uint32_t word;
        memcpy(&word, p, 4);
        c = __builtin_ia32_crc32si((uint32_t)c, word);
        p += 4;
        n -= 4;
    }
    while (n--) c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

static int hardware_state;  // 0 unknown, 1 yes, 2 no

int playhead_crc32c_is_hardware(void) {
    int state = __atomic_load_n(&hardware_state, __ATOMIC_RELAXED);
    if (state == 0) {
        __builtin_cpu_init();
        state = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul") ? 1 : 2;
        __atomic_store_n(&hardware_state, state, __ATOMIC_RELAXED);
    }
    return state == 1;
}

uint32_t playhead_crc32c_extend(uint32_t crc, const void *bytes, size_t length) {
    if (playhead_crc32c_is_hardware()) return crc32c_hardware(crc, bytes, length);
    return crc32c_software(crc, bytes, length);
}
#else
int playhead_crc32c_is_hardware(void) { return 0; }

uint32_t playhead_crc32c_extend(uint32_t crc, const void *bytes, size_t length) {
    return crc32c_software(crc, bytes, length);
}
#endif
