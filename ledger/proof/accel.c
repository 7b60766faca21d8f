/* The log's hashing in C: the optional accelerator of ledger/proof/verify.py.
 *
 * The same bytes as the readable reference (verify.entry_bytes, verify.leaf_hash, and
 * projections/tlog/tiles.subtree), with OpenSSL's SHA-256 (SHA-NI where the CPU has it) and the
 * GIL released while hashing, so that the thread reading the next page runs meanwhile. Built by
 * `make native` (ops/native.py); held equal to the reference by tests/property/test_accel.py.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_Init & co.: no EVP dispatch per call */
#include <Python.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

#define HASH_SIZE 32
/* An entry: 4+8 position, 4+16 originator id, 4+8 version, 4+topic, 4+32 state digest: the
 * framing without the topic and the digest. */
#define FIXED_SIZE (12 + 20 + 12 + 4 + 4)

typedef struct {
    Py_ssize_t offset; /* of the entry's head within the scratch buffer */
    Py_ssize_t topic;  /* topic length in UTF-8 */
    Py_buffer state;   /* the state as stored, or its SHA-256 */
} Row;

/* SHA-256 through the low-level interface: OpenSSL 3's one-shot SHA256() fetches the algorithm
 * on every call, which costs more than hashing an entry. */
static void sha256(const void *data, size_t length, unsigned char *digest) {
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, data, length);
    SHA256_Final(digest, &context);
}

static void put32(unsigned char *to, uint32_t value) {
    to[0] = value >> 24; to[1] = value >> 16; to[2] = value >> 8; to[3] = value;
}

static void put64(unsigned char *to, uint64_t value) {
    put32(to, (uint32_t)(value >> 32));
    put32(to + 4, (uint32_t)value);
}

static int uint64_of(PyObject *number, uint64_t *value, const char *what) {
    if (!PyLong_Check(number)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int", what);
        return -1;
    }
    *value = PyLong_AsUnsignedLongLong(number);
    if (*value == (uint64_t)-1 && PyErr_Occurred()) {
        PyErr_Format(PyExc_ValueError, "%s must be within 0 and 2^64 - 1", what);
        return -1;
    }
    return 0;
}

/* The 16 bytes of an originator id given as bytes or as a uuid.UUID. */
static int uuid_of(PyObject *value, unsigned char *to) {
    PyObject *raw;
    if (PyBytes_Check(value)) {
        raw = value;
        Py_INCREF(raw);
    } else {
        raw = PyObject_GetAttrString(value, "bytes");
        if (raw == NULL || !PyBytes_Check(raw)) {
            Py_XDECREF(raw);
            PyErr_SetString(PyExc_TypeError, "an originator id is a UUID or its 16 bytes");
            return -1;
        }
    }
    if (PyBytes_GET_SIZE(raw) != 16) {
        Py_DECREF(raw);
        PyErr_SetString(PyExc_ValueError, "an originator id is 16 bytes");
        return -1;
    }
    memcpy(to, PyBytes_AS_STRING(raw), 16);
    Py_DECREF(raw);
    return 0;
}

static void release(Row *rows, Py_ssize_t count) {
    for (Py_ssize_t at = 0; at < count; at++) PyBuffer_Release(&rows[at].state);
}

static PyObject *empty; /* b"": the state of a row whose state is NULL */

PyDoc_STRVAR(leaves_doc,
"leaves(rows, hashed=False) -> (positions, leaves)\n\n"
"The leaf hashes of stored events, each row (position, originator id as UUID or 16 bytes,\n"
"version, topic, state as stored; with hashed=True, the state's SHA-256; a topic or a state\n"
"that is None, a NULL written by hand, as empty): the positions\n"
"packed 8 bytes big-endian each, and the leaf hashes concatenated, in the rows' order.");

static PyObject *leaves(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"rows", "hashed", NULL};
    (void)self;
    PyObject *given, *sequence = NULL, *positions = NULL, *hashes = NULL;
    int hashed = 0;
    Row *rows = NULL;
    unsigned char *scratch = NULL;
    Py_ssize_t count, filled = 0, size = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|p", keywords, &given, &hashed)) return NULL;
    sequence = PySequence_Fast(given, "rows must be a sequence");
    if (sequence == NULL) return NULL;
    count = PySequence_Fast_GET_SIZE(sequence);
    rows = PyMem_Calloc(count ? count : 1, sizeof(Row));
    positions = PyBytes_FromStringAndSize(NULL, count * 8);
    hashes = PyBytes_FromStringAndSize(NULL, count * HASH_SIZE);
    if (rows == NULL || positions == NULL || hashes == NULL) goto fail;
    /* First pass, with the GIL: each row's fields, and the scratch size. */
    for (filled = 0; filled < count; filled++) {
        PyObject *row = PySequence_Fast_GET_ITEM(sequence, filled);
        if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 5) {
            PyErr_SetString(PyExc_TypeError, "a row is (position, originator id, version, topic, state)");
            goto fail;
        }
        Py_ssize_t topic = 0;
        PyObject *text = PyTuple_GET_ITEM(row, 3), *state = PyTuple_GET_ITEM(row, 4);
        if (text != Py_None && PyUnicode_AsUTF8AndSize(text, &topic) == NULL) goto fail;
        if (topic > UINT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "a topic is shorter than 2^32 bytes");
            goto fail;
        }
        if (state == Py_None) state = empty; /* a NULL written by hand: altered, not a crash */
        if (PyObject_GetBuffer(state, &rows[filled].state, PyBUF_SIMPLE) < 0) goto fail;
        if (hashed && rows[filled].state.len != HASH_SIZE) {
            filled++;
            PyErr_SetString(PyExc_ValueError, "a state's SHA-256 is 32 bytes");
            goto fail;
        }
        rows[filled].offset = size;
        rows[filled].topic = topic;
        size += 1 + FIXED_SIZE + topic + HASH_SIZE;
    }
    scratch = PyMem_Malloc(size ? size : 1);
    if (scratch == NULL) { PyErr_NoMemory(); goto fail; }
    /* Second pass, with the GIL: each entry's framing, up to the state's digest. */
    for (Py_ssize_t at = 0; at < count; at++) {
        PyObject *row = PySequence_Fast_GET_ITEM(sequence, at);
        unsigned char *entry = scratch + rows[at].offset;
        uint64_t position, version;
        Py_ssize_t topic = rows[at].topic;
        PyObject *given_topic = PyTuple_GET_ITEM(row, 3);
        const char *text = given_topic == Py_None ? "" : PyUnicode_AsUTF8(given_topic);
        if (uint64_of(PyTuple_GET_ITEM(row, 0), &position, "a position") < 0) goto fail;
        if (uint64_of(PyTuple_GET_ITEM(row, 2), &version, "a version") < 0) goto fail;
        entry[0] = 0x00;  /* RFC 9162: a leaf's prefix */
        put32(entry + 1, 8); put64(entry + 5, position);
        put32(entry + 13, 16);
        if (uuid_of(PyTuple_GET_ITEM(row, 1), entry + 17) < 0) goto fail;
        put32(entry + 33, 8); put64(entry + 37, version);
        put32(entry + 45, (uint32_t)topic);
        memcpy(entry + 49, text, topic);
        put32(entry + 49 + topic, HASH_SIZE);
        put64((unsigned char *)PyBytes_AS_STRING(positions) + at * 8, position);
    }
    /* Then without the GIL: the states' digests and the leaves. */
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(hashes);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t at = 0; at < count; at++) {
        unsigned char *entry = scratch + rows[at].offset;
        Py_ssize_t length = 1 + FIXED_SIZE + rows[at].topic;
        if (hashed) memcpy(entry + length, rows[at].state.buf, HASH_SIZE);
        else sha256(rows[at].state.buf, rows[at].state.len, entry + length);
        sha256(entry, length + HASH_SIZE, out + at * HASH_SIZE);
    }
    Py_END_ALLOW_THREADS
    release(rows, count);
    PyMem_Free(rows);
    PyMem_Free(scratch);
    Py_DECREF(sequence);
    PyObject *result = PyTuple_Pack(2, positions, hashes);
    Py_DECREF(positions);
    Py_DECREF(hashes);
    return result;
fail:
    if (rows != NULL) release(rows, filled);
    PyMem_Free(rows);
    PyMem_Free(scratch);
    Py_XDECREF(sequence);
    Py_XDECREF(positions);
    Py_XDECREF(hashes);
    return NULL;
}

PyDoc_STRVAR(subtree_doc,
"subtree(hashes) -> bytes\n\n"
"The head of a perfect subtree from its 2^k concatenated bottom hashes (k >= 0):\n"
"node = SHA-256(0x01 || left || right), level by level.");

static PyObject *subtree(PyObject *self, PyObject *arg) {
    Py_buffer given;
    (void)self;
    if (PyObject_GetBuffer(arg, &given, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t count = given.len / HASH_SIZE;
    if (given.len % HASH_SIZE || count == 0 || (count & (count - 1))) {
        PyBuffer_Release(&given);
        PyErr_SetString(PyExc_ValueError, "a perfect subtree has 2^k hashes of 32 bytes");
        return NULL;
    }
    unsigned char *row = PyMem_Malloc(given.len);
    if (row == NULL) { PyBuffer_Release(&given); return PyErr_NoMemory(); }
    memcpy(row, given.buf, given.len);
    PyBuffer_Release(&given);
    Py_BEGIN_ALLOW_THREADS
    unsigned char node[1 + 2 * HASH_SIZE];
    node[0] = 0x01;
    for (; count > 1; count /= 2) {
        for (Py_ssize_t at = 0; at < count / 2; at++) {
            memcpy(node + 1, row + at * 2 * HASH_SIZE, 2 * HASH_SIZE);
            sha256(node, sizeof node, row + at * HASH_SIZE);
        }
    }
    Py_END_ALLOW_THREADS
    PyObject *head = PyBytes_FromStringAndSize((const char *)row, HASH_SIZE);
    PyMem_Free(row);
    return head;
}

static PyMethodDef methods[] = {
    {"leaves", (PyCFunction)(void (*)(void))leaves, METH_VARARGS | METH_KEYWORDS, leaves_doc},
    {"subtree", subtree, METH_O, subtree_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "accel",
    "The log's hashing in C: the optional accelerator of ledger.proof.verify.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_accel(void) {
    empty = PyBytes_FromStringAndSize(NULL, 0);
    if (empty == NULL) return NULL;
    return PyModule_Create(&module);
}
