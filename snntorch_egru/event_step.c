/* The event-driven EGRU kernel of snntorch_egru.event_inference: one network step per call.

   Written once over a real type REAL (float or double) and an index type IDX (int32_t or
   uint16_t); every external name carries the suffix SUFFIX (f32_i32, f32_u16, f64_i32,
   f64_u16), e.g. egru_layer_step_f32_u16. event_inference.py reads this file at run time
   (importlib.resources), prefixes each of the four instantiations with the #defines of
   REAL, IDX, SUFFIX, EXP (expf or exp) and TANH_OF, and compiles them as one translation
   unit. Compiled on its own, the file is the double / int32_t instantiation. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef REAL
#define REAL double
#define IDX int32_t
#define SUFFIX f64_i32
#define EXP exp
#define TANH_OF(A) tanh(A)
#endif

#define EGRU_PASTE2(base, suffix) base##_##suffix
#define EGRU_PASTE(base, suffix) EGRU_PASTE2(base, suffix)
#define NAME(base) EGRU_PASTE(base, SUFFIX)

#ifndef GX_READY
#define GX_READY 16
#endif
#ifndef SIGNED_EVENTS
#define SIGNED_EVENTS 32
#endif

/* out[rows[p]] += vals[p] * u[a] for every column a with u[a] != 0; returns the MACs. */
static int64_t NAME(spmv)(const int64_t *restrict ptr, const IDX *restrict rows, const REAL *restrict vals,
                         const REAL *restrict u, int64_t ncols, REAL *restrict out) {
    int64_t macs = 0;
    for (int64_t a = 0; a < ncols; ++a) {
        const REAL v = u[a];
        if (v != 0) {
            const int64_t p1 = ptr[a + 1];
            macs += p1 - ptr[a];
            for (int64_t p = ptr[a]; p < p1; ++p) out[rows[p]] += vals[p] * v;
        }
    }
    return macs;
}

/* out[r] += sum_p vals[p] * u[cols[p]] over every stored entry (CSR): used when every input is nonzero. */
static int64_t NAME(csr_spmv)(int64_t nrows, const int64_t *restrict ptr, const IDX *restrict cols,
                              const REAL *restrict vals, const REAL *restrict u, REAL *restrict out) {
    for (int64_t r = 0; r < nrows; ++r) {
        /* four partial sums: the additions of one row do not wait on each other */
        REAL a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int64_t p = ptr[r];
        const int64_t p1 = ptr[r + 1];
        for (; p + 4 <= p1; p += 4) {
            a0 += vals[p] * u[cols[p]];
            a1 += vals[p + 1] * u[cols[p + 1]];
            a2 += vals[p + 2] * u[cols[p + 2]];
            a3 += vals[p + 3] * u[cols[p + 3]];
        }
        for (; p < p1; ++p) a0 += vals[p] * u[cols[p]];
        out[r] += (a0 + a1) + (a2 + a3);
    }
    return ptr[nrows];
}

/* One EGRU layer step in place: y, c (H) are the state, u (I) the input; gx, gh (3H) scratch.
   mode: 0 subtract, 1 zero, 2 none, 3 plain GRU (no events); plus SIGNED_EVENTS for the
   signed neuron (an event where |c~| > theta, y = c~, the subtractive reset by sign(c~) theta,
   tested as c~ > theta or c~ < -theta); plus GX_READY when the caller
   has already put b_ih + W_ih u into gx (a dense W_ih without zeros on an input without
   zeros: every stored weight is used, ih_ptr[I] MACs). W_ih may also come as CSR
   (csr_ptr non-NULL): used when every entry of u is nonzero (same MACs, faster).
   totals[0], totals[1] accumulate the W_ih, W_hh MACs; returns this step's MACs. */
int64_t NAME(egru_layer_step)(int64_t H, int64_t I,
        const int64_t *ih_ptr, const IDX *ih_rows, const REAL *ih_vals,
        const int64_t *csr_ptr, const IDX *csr_cols, const REAL *csr_vals,
        const int64_t *hh_ptr, const IDX *hh_rows, const REAL *hh_vals,
        const REAL *b_ih, const REAL *b_hh, const REAL *theta,
        const REAL *u, REAL *y, REAL *c, REAL *gx, REAL *gh, int32_t mode, int64_t *totals) {
    const int64_t G = 3 * H;
    int64_t m_ih, m_hh;
    const int gx_ready = (mode & GX_READY) != 0;
    const int signed_events = (mode & SIGNED_EVENTS) != 0;
    mode &= ~(GX_READY | SIGNED_EVENTS);
    memcpy(gh, b_hh, (size_t)G * sizeof(REAL));
    if (gx_ready) {
        m_ih = ih_ptr[I];
    } else {
        memcpy(gx, b_ih, (size_t)G * sizeof(REAL));
        int dense_input = csr_ptr != 0;
        if (dense_input) {
            for (int64_t a = 0; a < I; ++a) if (u[a] == 0) { dense_input = 0; break; }
        }
        m_ih = dense_input ? NAME(csr_spmv)(G, csr_ptr, csr_cols, csr_vals, u, gx)
                           : NAME(spmv)(ih_ptr, ih_rows, ih_vals, u, I, gx);
    }
    m_hh = NAME(spmv)(hh_ptr, hh_rows, hh_vals, y, H, gh);
    totals[0] += m_ih;
    totals[1] += m_hh;
    for (int64_t j = 0; j < H; ++j) {
        const REAL r = (REAL)1 / ((REAL)1 + EXP(-(gx[j] + gh[j])));
        const REAL z = (REAL)1 / ((REAL)1 + EXP(-(gx[H + j] + gh[H + j])));
        const REAL n = TANH_OF(gx[2 * H + j] + r * gh[2 * H + j]);
        const REAL ct = z * c[j] + ((REAL)1 - z) * n;
        if (mode == 3) { y[j] = ct; c[j] = ct; continue; }
        const int fire = signed_events ? (ct > theta[j] || ct < -theta[j]) : (ct - theta[j]) > 0;
        y[j] = fire ? ct : (REAL)0;
        if (mode == 0) c[j] = fire ? ct - (ct > 0 ? theta[j] : -theta[j]) : ct;
        else if (mode == 1) c[j] = fire ? (REAL)0 : ct;
        else c[j] = ct;
    }
    return m_ih + m_hh;
}

/* out = bias + W u over the nonzero columns of u; totals[0] accumulates; returns the MACs. */
int64_t NAME(sparse_linear)(int64_t R, int64_t C, const int64_t *ptr, const IDX *rows, const REAL *vals,
                            const REAL *bias, const REAL *u, REAL *out, int64_t *totals) {
    if (bias) memcpy(out, bias, (size_t)R * sizeof(REAL));
    else memset(out, 0, (size_t)R * sizeof(REAL));
    const int64_t macs = NAME(spmv)(ptr, rows, vals, u, C, out);
    totals[0] += macs;
    return macs;
}

/* The arguments of egru_layer_step / sparse_linear as structs (every field 8 bytes), so
   that one call from Python runs a whole network step. */
typedef struct {
    int64_t H, I;
    const int64_t *ih_ptr; const IDX *ih_rows; const REAL *ih_vals;
    const int64_t *csr_ptr; const IDX *csr_cols; const REAL *csr_vals;
    const int64_t *hh_ptr; const IDX *hh_rows; const REAL *hh_vals;
    const REAL *b_ih; const REAL *b_hh; const REAL *theta;
    const REAL *u; REAL *y; REAL *c; REAL *gx; REAL *gh; int64_t mode; int64_t *totals;
} NAME(layer_args);

typedef struct {
    int64_t R, C; const int64_t *ptr; const IDX *rows; const REAL *vals;
    const REAL *bias; const REAL *u; REAL *out; int64_t *totals;
} NAME(linear_args);

int64_t NAME(network_step)(const NAME(layer_args) *layers, int64_t n_layers, const NAME(linear_args) *readout) {
    int64_t macs = 0;
    for (int64_t k = 0; k < n_layers; ++k) {
        const NAME(layer_args) *a = layers + k;
        macs += NAME(egru_layer_step)(a->H, a->I, a->ih_ptr, a->ih_rows, a->ih_vals, a->csr_ptr, a->csr_cols,
                                      a->csr_vals, a->hh_ptr, a->hh_rows, a->hh_vals, a->b_ih, a->b_hh, a->theta,
                                      a->u, a->y, a->c, a->gx, a->gh, (int32_t)a->mode, a->totals);
    }
    if (readout)
        macs += NAME(sparse_linear)(readout->R, readout->C, readout->ptr, readout->rows, readout->vals,
                                    readout->bias, readout->u, readout->out, readout->totals);
    return macs;
}

/* Leave the names free for the next instantiation. */
#undef REAL
#undef IDX
#undef SUFFIX
#undef EXP
#undef TANH_OF
