/* The cache's hot loop in C: one tile of the float16 stack times the stage weights, in one pass.
 *
 * numpy has to convert a tile to a float32 copy (twice its bytes, written out of cache and read back)
 * and then multiply; here each float16 value is converted in a register (F16C) and accumulated with a
 * fused multiply-add into a one-tile float32 accumulator that stays in L1, so the tile is read once.
 * Built as an optional extension (pyproject.toml): where it does not build (no C compiler, not GCC or
 * Clang on x86-64) or the CPU lacks AVX2/FMA/F16C (the import fails), engine.relight.tiled uses numpy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if !(defined(__GNUC__) && defined(__x86_64__))
#error "the tile kernel needs GCC or Clang on x86-64; relighting falls back to numpy"
#endif

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define ROWS_PER_PASS 4 /* accumulator loaded and stored once per 4 rows */

/* acc[p] = sum_r w[r] * half(rows_data[r * pixels + p]) for p < pixels. */
__attribute__((target("avx2,fma,f16c")))
static void channel_sum(const uint16_t *rows_data, const float *w, Py_ssize_t rows, Py_ssize_t pixels, float *acc)
{
    const Py_ssize_t vec = pixels & ~(Py_ssize_t)7;
    memset(acc, 0, (size_t)pixels * sizeof(float));
    Py_ssize_t r = 0;
    for (; r + ROWS_PER_PASS <= rows; r += ROWS_PER_PASS) {
        const uint16_t *r0 = rows_data + r * pixels, *r1 = r0 + pixels, *r2 = r1 + pixels, *r3 = r2 + pixels;
        const __m256 w0 = _mm256_set1_ps(w[r]), w1 = _mm256_set1_ps(w[r + 1]);
        const __m256 w2 = _mm256_set1_ps(w[r + 2]), w3 = _mm256_set1_ps(w[r + 3]);
        for (Py_ssize_t p = 0; p < vec; p += 8) {
            __m256 a = _mm256_loadu_ps(acc + p);
            a = _mm256_fmadd_ps(w0, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r0 + p))), a);
            a = _mm256_fmadd_ps(w1, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r1 + p))), a);
            a = _mm256_fmadd_ps(w2, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r2 + p))), a);
            a = _mm256_fmadd_ps(w3, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r3 + p))), a);
            _mm256_storeu_ps(acc + p, a);
        }
        for (Py_ssize_t p = vec; p < pixels; p++)
            acc[p] += w[r] * _cvtsh_ss(r0[p]) + w[r + 1] * _cvtsh_ss(r1[p]) + w[r + 2] * _cvtsh_ss(r2[p])
                      + w[r + 3] * _cvtsh_ss(r3[p]);
    }
    for (; r < rows; r++) {
        const uint16_t *r0 = rows_data + r * pixels;
        const __m256 w0 = _mm256_set1_ps(w[r]);
        for (Py_ssize_t p = 0; p < vec; p += 8)
            _mm256_storeu_ps(acc + p, _mm256_fmadd_ps(w0, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(r0 + p))),
                                                      _mm256_loadu_ps(acc + p)));
        for (Py_ssize_t p = vec; p < pixels; p++)
            acc[p] += w[r] * _cvtsh_ss(r0[p]);
    }
}

/* True when the buffer's struct format is `code` in native (or little-endian) byte order. */
static int has_format(const Py_buffer *view, char code)
{
    const char *format = view->format ? view->format : "B";
    if (format[0] == '@' || format[0] == '=' || format[0] == '<')
        format++;
    return format[0] == code && format[1] == '\0';
}

PyDoc_STRVAR(weighted_sum_doc,
"weighted_sum(tile, weights, out)\n--\n\n"
"out[p, c] = sum_r weights[c, r] * tile[c, r, p] for one tile of the cache.\n\n"
"tile: C-contiguous float16, 3 * rows * pixels values (channel, row, pixel); weights: C-contiguous float32,\n"
"3 * rows values (channel, row); out: writable C-contiguous float32, pixels * 3 values (pixel, channel).\n"
"Releases the GIL while it computes. ValueError when the sizes or types do not fit together.");

static PyObject *weighted_sum(PyObject *self, PyObject *args)
{
    PyObject *tile_obj, *weights_obj, *out_obj, *result = NULL;
    Py_buffer tile = {0}, weights = {0}, out = {0};
    if (!PyArg_ParseTuple(args, "OOO:weighted_sum", &tile_obj, &weights_obj, &out_obj))
        return NULL;
    if (PyObject_GetBuffer(tile_obj, &tile, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        goto done;
    if (PyObject_GetBuffer(weights_obj, &weights, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        goto done;
    if (PyObject_GetBuffer(out_obj, &out, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0)
        goto done;
    if (!has_format(&tile, 'e') || !has_format(&weights, 'f') || !has_format(&out, 'f')) {
        PyErr_SetString(PyExc_ValueError, "tile must be float16, weights and out float32");
        goto done;
    }
    const Py_ssize_t rows = weights.len / (3 * (Py_ssize_t)sizeof(float));
    const Py_ssize_t pixels = out.len / (3 * (Py_ssize_t)sizeof(float));
    if (rows == 0 || pixels == 0 || weights.len != 3 * rows * (Py_ssize_t)sizeof(float)
        || out.len != 3 * pixels * (Py_ssize_t)sizeof(float) || tile.len != 3 * rows * pixels * 2) {
        PyErr_Format(PyExc_ValueError, "sizes do not fit: tile %zd bytes, weights %zd, out %zd (want 3 x rows x pixels "
                     "float16, 3 x rows and pixels x 3 float32)", tile.len, weights.len, out.len);
        goto done;
    }
    float *acc = PyMem_RawMalloc((size_t)pixels * sizeof(float));
    if (!acc) {
        PyErr_NoMemory();
        goto done;
    }
    const uint16_t *tile_data = tile.buf;
    const float *weight_data = weights.buf;
    float *out_data = out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (int c = 0; c < 3; c++) {
        channel_sum(tile_data + (Py_ssize_t)c * rows * pixels, weight_data + c * rows, rows, pixels, acc);
        for (Py_ssize_t p = 0; p < pixels; p++)
            out_data[3 * p + c] = acc[p];
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(acc);
    result = Py_NewRef(Py_None);
done:
    if (tile.obj)
        PyBuffer_Release(&tile);
    if (weights.obj)
        PyBuffer_Release(&weights);
    if (out.obj)
        PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"weighted_sum", weighted_sum, METH_VARARGS, weighted_sum_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "engine.relight._tile_kernel",
    "One cache tile times the stage weights: float16 converted in registers, fused multiply-add (AVX2, F16C).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__tile_kernel(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !__builtin_cpu_supports("f16c")) {
        PyErr_SetString(PyExc_ImportError, "this CPU lacks AVX2, FMA or F16C");
        return NULL;
    }
    return PyModule_Create(&module);
}
