/*
 * The synthetic stream generator. The payments schema mimics a fraud model's inputs (amounts
 * are log-normal, risk scores in [0,1], a country mix, a label that depends on amount and risk)
 * so the demo reads like a real deployment; at drift_at the amount distribution shifts up, the
 * merchant risk rises and the country mix changes, while the other features stay put, so the
 * demo can show that driftd names the features that moved. The generic schema (dims > 0) is d
 * standard normal features, of which the first quarter shift by one standard deviation.
 *
 * xoshiro256** seeded by splitmix64; normals by Box-Muller. Numbers are printed with %.6g so the
 * JSON is what a real producer would emit.
 */
#include "gen.h"

#include <math.h>
#include <stdio.h>

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(struct drift_gen *g)
{
    uint64_t *s = g->s;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static double uniform(struct drift_gen *g)
{
    return (double)(next_u64(g) >> 11) * (1.0 / 9007199254740992.0) + 1e-300;
}

static double normal(struct drift_gen *g)
{
    return sqrt(-2.0 * log(uniform(g))) * cos(6.283185307179586 * uniform(g));
}

void drift_gen_init(struct drift_gen *g, uint64_t seed, int dims, uint64_t drift_at)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        g->s[i] = splitmix(&x);
    }
    g->dims = dims;
    g->drift_at = drift_at;
    g->i = 0;
    g->corr_flip = 0;
}

const char *drift_gen_describe(const struct drift_gen *g)
{
    if (g->dims > 1 && g->corr_flip) {
        return "the correlation of f0 and f1 turns from +0.8 to -0.8; no feature's own "
               "distribution changes";
    }
    if (g->dims > 0) {
        return "the first quarter of the features shift by one standard deviation";
    }
    return "amount grows ~2x, merchant_risk rises and the country mix changes";
}

static const char *const countries[] = {"DE", "FR", "US", "GB", "ES", "NL", "BR"};
static const double mix_before[] = {0.30, 0.20, 0.20, 0.12, 0.08, 0.06, 0.04};
static const double mix_after[] = {0.12, 0.10, 0.18, 0.10, 0.08, 0.06, 0.36};

size_t drift_gen_next(struct drift_gen *g, char *buf, size_t len, double ts_ms)
{
    int drifted = g->i >= g->drift_at;
    int n;
    if (g->dims > 0) {
        size_t o = 0;
        n = snprintf(buf, len, "{\"ts\":%.0f", ts_ms);
        if (n < 0 || (size_t)n >= len) {
            return 0;
        }
        o = (size_t)n;
        double score = 0, z0 = 0;
        for (int j = 0; j < g->dims; j++) {
            double v = normal(g);
            if (g->corr_flip && g->dims > 1) {
                double rho = drifted ? -0.8 : 0.8;
                if (j == 0) {
                    z0 = v;
                } else if (j == 1) {
                    v = rho * z0 + sqrt(1 - rho * rho) * v;
                }
            } else if (drifted && j < (g->dims + 3) / 4) {
                v += 1.0;
            }
            score += (j % 2 ? -0.5 : 0.5) * v;
            n = snprintf(buf + o, len - o, ",\"f%d\":%.6g", j, v);
            if (n < 0 || (size_t)n >= len - o) {
                return 0;
            }
            o += (size_t)n;
        }
        int label = uniform(g) < 1.0 / (1.0 + exp(-score));
        n = snprintf(buf + o, len - o, ",\"label\":%d}", label);
        if (n < 0 || (size_t)n >= len - o) {
            return 0;
        }
        g->i++;
        return o + (size_t)n;
    }
    double amount = exp(3.6 + 0.9 * normal(g) + (drifted ? 0.7 : 0.0));
    double risk = pow(uniform(g), drifted ? 1.2 : 2.5);
    double age = -log(uniform(g)) * 400.0;
    int hour = (int)(uniform(g) * 24.0);
    int items = 1 + (int)(-log(uniform(g)) * 1.5);
    const double *mix = drifted ? mix_after : mix_before;
    double u = uniform(g), acc = 0;
    int c = 0;
    for (c = 0; c < 6; c++) {
        acc += mix[c];
        if (u < acc) {
            break;
        }
    }
    double z = -4.0 + 0.012 * amount + 3.0 * risk - 0.001 * age;
    int label = uniform(g) < 1.0 / (1.0 + exp(-z));
    n = snprintf(buf, len,
                 "{\"ts\":%.0f,\"txn_id\":\"t%llu\",\"amount\":%.2f,\"merchant_risk\":%.4f,"
                 "\"account_age_days\":%.0f,\"hour\":%d,\"items\":%d,\"country\":\"%s\","
                 "\"is_fraud\":%d}",
                 ts_ms, (unsigned long long)g->i, amount, risk, age, hour, items, countries[c],
                 label);
    if (n < 0 || (size_t)n >= len) {
        return 0;
    }
    g->i++;
    return (size_t)n;
}
