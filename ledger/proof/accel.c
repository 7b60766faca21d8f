/* The log's hashing in C: the optional accelerator of ledger/proof/verify.py.
 *
 * The same bytes as the readable reference (verify.entry_bytes, verify.leaf_hash, and
 * ledger/proof/tiles.subtree), with OpenSSL's SHA-256 (SHA-NI where the CPU has it) and the
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

/* One row's fields, taken out with the GIL, hashed without it. */
typedef struct {
    uint64_t position, version;
    unsigned char id[16];
    const char *topic; /* UTF-8, kept alive by the row */
    Py_ssize_t topic_length;
    const char *state; /* the state as stored, or its SHA-256 */
    Py_ssize_t state_length;
    Py_buffer view; /* when the state is not bytes (a memoryview, say) */
    int viewed;
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
    for (Py_ssize_t at = 0; at < count; at++)
        if (rows[at].viewed) PyBuffer_Release(&rows[at].view);
}

/* A row's fields into ``into``, with the GIL; -1 with an exception set if one is malformed. */
static int take(PyObject *row, Row *into, int hashed);

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
    unsigned char *entry = NULL;
    Py_ssize_t count, filled = 0, longest = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|p", keywords, &given, &hashed)) return NULL;
    /* A tuple of the rows holds them while the GIL is released, whatever another thread
     * does meanwhile to the list given. */
    sequence = PySequence_Tuple(given);
    if (sequence == NULL) return NULL;
    count = PyTuple_GET_SIZE(sequence);
    rows = PyMem_Malloc((count ? count : 1) * sizeof(Row));
    positions = PyBytes_FromStringAndSize(NULL, count * 8);
    hashes = PyBytes_FromStringAndSize(NULL, count * HASH_SIZE);
    if (rows == NULL || positions == NULL || hashes == NULL) goto fail;
    /* With the GIL: each row's fields (pointers into its objects, which the rows keep). */
    for (filled = 0; filled < count; filled++) {
        if (take(PyTuple_GET_ITEM(sequence, filled), &rows[filled], hashed) < 0) goto fail;
        if (rows[filled].topic_length > longest) longest = rows[filled].topic_length;
        put64((unsigned char *)PyBytes_AS_STRING(positions) + filled * 8, rows[filled].position);
    }
    entry = PyMem_Malloc(1 + FIXED_SIZE + longest + HASH_SIZE);
    if (entry == NULL) { PyErr_NoMemory(); goto fail; }
    /* Without the GIL: each entry framed, its state's digest, its leaf. */
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(hashes);
    Py_BEGIN_ALLOW_THREADS
    entry[0] = 0x00; /* RFC 9162: a leaf's prefix */
    put32(entry + 1, 8);
    put32(entry + 13, 16);
    put32(entry + 33, 8);
    for (Py_ssize_t at = 0; at < count; at++) {
        const Row *row = &rows[at];
        Py_ssize_t length = 1 + FIXED_SIZE + row->topic_length;
        put64(entry + 5, row->position);
        memcpy(entry + 17, row->id, 16);
        put64(entry + 37, row->version);
        put32(entry + 45, (uint32_t)row->topic_length);
        memcpy(entry + 49, row->topic, row->topic_length);
        put32(entry + 49 + row->topic_length, HASH_SIZE);
        if (hashed) memcpy(entry + length, row->state, HASH_SIZE);
        else sha256(row->state, row->state_length, entry + length);
        sha256(entry, length + HASH_SIZE, out + at * HASH_SIZE);
    }
    Py_END_ALLOW_THREADS
    release(rows, count);
    PyMem_Free(rows);
    PyMem_Free(entry);
    Py_DECREF(sequence);
    PyObject *result = PyTuple_Pack(2, positions, hashes);
    Py_DECREF(positions);
    Py_DECREF(hashes);
    return result;
fail:
    if (rows != NULL) release(rows, filled);
    PyMem_Free(rows);
    PyMem_Free(entry);
    Py_XDECREF(sequence);
    Py_XDECREF(positions);
    Py_XDECREF(hashes);
    return NULL;
}

static int take(PyObject *row, Row *into, int hashed) {
    into->viewed = 0;
    if (!PyTuple_Check(row) || PyTuple_GET_SIZE(row) != 5) {
        PyErr_SetString(PyExc_TypeError, "a row is (position, originator id, version, topic, state)");
        return -1;
    }
    PyObject *id = PyTuple_GET_ITEM(row, 1), *topic = PyTuple_GET_ITEM(row, 3);
    PyObject *state = PyTuple_GET_ITEM(row, 4);
    if (uint64_of(PyTuple_GET_ITEM(row, 0), &into->position, "a position") < 0) return -1;
    if (uint64_of(PyTuple_GET_ITEM(row, 2), &into->version, "a version") < 0) return -1;
    if (PyBytes_Check(id) && PyBytes_GET_SIZE(id) == 16) memcpy(into->id, PyBytes_AS_STRING(id), 16);
    else if (uuid_of(id, into->id) < 0) return -1;
    if (topic == Py_None) { /* a NULL written by hand: altered, not a crash */
        into->topic = "";
        into->topic_length = 0;
    } else if ((into->topic = PyUnicode_AsUTF8AndSize(topic, &into->topic_length)) == NULL) {
        return -1;
    } else if (into->topic_length > (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a topic is shorter than 2^32 bytes");
        return -1;
    }
    if (state == Py_None) state = empty;
    if (PyBytes_Check(state)) {
        into->state = PyBytes_AS_STRING(state);
        into->state_length = PyBytes_GET_SIZE(state);
    } else {
        if (PyObject_GetBuffer(state, &into->view, PyBUF_SIMPLE) < 0) return -1;
        into->viewed = 1;
        into->state = into->view.buf;
        into->state_length = into->view.len;
    }
    if (hashed && into->state_length != HASH_SIZE) {
        if (into->viewed) PyBuffer_Release(&into->view);
        PyErr_SetString(PyExc_ValueError, "a state's SHA-256 is 32 bytes");
        return -1;
    }
    return 0;
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
