/* One fused pass of a masked optimizer step over a stack of K members' parameters.
 *
 * For precision="bf16" population training (population.py): per weight it reads the fp32 weight,
 * the bf16 (or fp32) gradient, the optimizer state and the 1-byte mask, and writes the new fp32
 * weight, its state and the bf16 copy the next forward pass multiplies with. Done with torch ops
 * that is five passes over the 17 MB of a K = 16 LeNet stack (gradient cast, Adam, mask multiply,
 * weight cast, and their page faults); the step is memory-bound, so one pass is what it costs.
 *
 * The formulas are torch.optim's, not its rounding order (torch's vector code fuses multiply-adds
 * and divides -step * m by the denominator): Adam with L2 weight decay added to the gradient,
 * exp_avg by lerp, step size lr / bias_correction1 (computed by the caller in double), denominator
 * sqrt(v) / sqrt(bias_correction2) + eps; SGD with buf = momentum * buf + g, p -= lr * buf. It is
 * elementwise, so a member's numbers never depend on its neighbours, and compiled with
 * -ffp-contract=off so that vector body and scalar tail round alike.
 *
 * Pruned weights (mask 0) are set to exactly 0 and their state is left as it is. torch's optimizer
 * would go on moving that state with the pruned weights' gradients, but the state of a weight that is
 * zeroed after every step never reaches a kept one, so the kept weights come out the same.
 * Layout: member k's parameters and state start at k * stride (the padded leaf), its gradient,
 * mask and bf16 copy at k * n.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#define BLOCK 4096

static inline float bf16_to_float(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint16_t float_to_bf16(float f) { /* round to nearest even, as c10::BFloat16 */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if (isnan(f)) return 0x7FC0;
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

struct step {
    int64_t members, n, stride;
    float *p, *s1, *s2;         /* weights; Adam's exp_avg and exp_avg_sq, or SGD's momentum buffer in s1 */
    const void *g;              /* gradient, K x n, bf16 or fp32 */
    int g_bf16;
    const uint8_t *mask;        /* K x n, or NULL: nothing pruned */
    uint16_t *copy;             /* K x n bf16 copy of the new weights */
    int threads;
};

struct hyper {
    float weight_decay;
    float step_size, one_minus_beta1, beta2, one_minus_beta2, eps, bias_correction2_sqrt; /* Adam */
    float lr, momentum;                                                                  /* SGD */
};

/* One block of one member, written with restrict pointers and no branches so that the compiler
 * vectorizes it; the flags are compile-time constants in each specialization below. */
static inline __attribute__((always_inline)) void block(
        const int adam, const int g_bf16, const int masked, const int64_t len,
        float *restrict p, float *restrict s1, float *restrict s2, const void *restrict g,
        const uint8_t *restrict mask, uint16_t *restrict copy, const struct hyper h) {
    for (int64_t i = 0; i < len; i++) {
        float grad = g_bf16 ? bf16_to_float(((const uint16_t *)g)[i]) : ((const float *)g)[i];
        grad = h.weight_decay != 0.0f ? grad + h.weight_decay * p[i] : grad;
        float value;
        if (adam) {
            const float m = s1[i] + h.one_minus_beta1 * (grad - s1[i]);
            const float v = s2[i] * h.beta2 + h.one_minus_beta2 * grad * grad;
            s1[i] = masked && !mask[i] ? s1[i] : m;
            s2[i] = masked && !mask[i] ? s2[i] : v;
            value = p[i] - h.step_size * (m / (sqrtf(v) / h.bias_correction2_sqrt + h.eps));
        } else {
            const float buf = h.momentum * s1[i] + grad;
            s1[i] = masked && !mask[i] ? s1[i] : buf;
            value = p[i] - h.lr * buf;
        }
        value = masked && !mask[i] ? 0.0f : value;
        p[i] = value;
        copy[i] = float_to_bf16(value);
    }
}

#define SPECIALIZE(name, ADAM, BF16, MASKED)                                                         \
    static void name(const struct step s, const struct hyper h) {                                   \
        const int64_t blocks = (s.n + BLOCK - 1) / BLOCK;                                           \
        /* threads only where there is work for them: biases are a few hundred numbers */            \
        _Pragma("omp parallel for schedule(static) num_threads(s.threads) if(s.members * s.n > 32768)") \
        for (int64_t b = 0; b < s.members * blocks; b++) {                                           \
            const int64_t k = b / blocks, lo = (b % blocks) * BLOCK;                                 \
            const int64_t len = (lo + BLOCK < s.n ? lo + BLOCK : s.n) - lo;                          \
            const int64_t at = k * s.stride + lo, gi = k * s.n + lo;                                 \
            const void *g = BF16 ? (const void *)((const uint16_t *)s.g + gi)                        \
                                 : (const void *)((const float *)s.g + gi);                          \
            block(ADAM, BF16, MASKED, len, s.p + at, s.s1 + at, ADAM ? s.s2 + at : NULL, g,           \
                  MASKED ? s.mask + gi : NULL, s.copy + gi, h);                                      \
        }                                                                                           \
    }

SPECIALIZE(adam_bf16_masked, 1, 1, 1)
SPECIALIZE(adam_bf16, 1, 1, 0)
SPECIALIZE(adam_fp32_masked, 1, 0, 1)
SPECIALIZE(adam_fp32, 1, 0, 0)
SPECIALIZE(sgd_bf16_masked, 0, 1, 1)
SPECIALIZE(sgd_bf16, 0, 1, 0)
SPECIALIZE(sgd_fp32_masked, 0, 0, 1)
SPECIALIZE(sgd_fp32, 0, 0, 0)

void adam_step(struct step s, float step_size, float one_minus_beta1, float beta2, float one_minus_beta2,
               float eps, float weight_decay, float bias_correction2_sqrt) {
    const struct hyper h = {.weight_decay = weight_decay, .step_size = step_size, .one_minus_beta1 = one_minus_beta1,
                            .beta2 = beta2, .one_minus_beta2 = one_minus_beta2, .eps = eps,
                            .bias_correction2_sqrt = bias_correction2_sqrt};
    if (s.g_bf16) (s.mask ? adam_bf16_masked : adam_bf16)(s, h);
    else (s.mask ? adam_fp32_masked : adam_fp32)(s, h);
}

void sgd_step(struct step s, float lr, float momentum, float weight_decay) {
    const struct hyper h = {.weight_decay = weight_decay, .lr = lr, .momentum = momentum};
    if (s.g_bf16) (s.mask ? sgd_bf16_masked : sgd_bf16)(s, h);
    else (s.mask ? sgd_fp32_masked : sgd_fp32)(s, h);
}

/* The batch-mean cross-entropy of every member and its gradient, for the direct bf16 step: logits and
 * gradient K x classes x rows in bf16 (feature-major), labels K x rows, the rows' loss weights (1/B, 0 for
 * padding). Writes each member's loss, the gradient rounded to bf16 as autograd rounds it, and the last
 * layer's bias gradient summed from the rounded values. About fifteen small torch ops in one call. */
void softmax_xent(int64_t members, int64_t classes, int64_t rows, const uint16_t *logits, const int64_t *labels,
                  const float *row_weight, float *losses, uint16_t *grad, float *bias_grad, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if(members * classes * rows > 32768)
    for (int64_t k = 0; k < members; k++) {
        const uint16_t *z = logits + k * classes * rows;
        uint16_t *g = grad + k * classes * rows;
        float *bias = bias_grad + k * classes;
        float loss = 0.0f;
        for (int64_t c = 0; c < classes; c++) bias[c] = 0.0f;
        for (int64_t r = 0; r < rows; r++) {
            float top = bf16_to_float(z[r]), total = 0.0f;
            for (int64_t c = 1; c < classes; c++) top = fmaxf(top, bf16_to_float(z[c * rows + r]));
            for (int64_t c = 0; c < classes; c++) total += expf(bf16_to_float(z[c * rows + r]) - top);
            const float log_total = logf(total);
            const int64_t y = labels[k * rows + r];
            loss += row_weight[r] * -((bf16_to_float(z[y * rows + r]) - top) - log_total);
            for (int64_t c = 0; c < classes; c++) {
                const float p = expf((bf16_to_float(z[c * rows + r]) - top) - log_total);
                const uint16_t rounded = float_to_bf16((p - (c == y ? 1.0f : 0.0f)) * row_weight[r]);
                g[c * rows + r] = rounded;
                bias[c] += bf16_to_float(rounded);
            }
        }
        losses[k] = loss;
    }
}
