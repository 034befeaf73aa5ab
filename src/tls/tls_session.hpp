// One TLS connection's state, beside its Connection record (the record stays
// small: a plain connection pays nothing for TLS). Ciphertext never touches
// an OpenSSL memory buffer: the connection's BIO (tls/loop_bio.hpp) reads
// straight from the receive buffer being delivered and writes records
// straight into `cipher`, a queue of the loop's output chunks.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>

#include "io/out_queue.hpp"

namespace wsgate::tls {
struct KernelTlsTrack;
}

namespace wsgate::tls {

struct TlsSession {
    SSL* ssl = nullptr;
    io::OutQueue cipher;               // records to send: handshake, data, alerts
    io::ChunkPool* pool = nullptr;     // the loop's, which `cipher` takes chunks from
    KernelTlsTrack* kernel = nullptr;  // where kernel TLS may take over: its records and secrets
    const uint8_t* in = nullptr;       // ciphertext being fed, read by the BIO
    size_t in_len = 0;
    uint32_t index = 0;                  // the connection's slot
    bool established = false;            // the handshake completed
    bool failed = false;                 // a fatal error: no more OpenSSL calls on it
    bool notify_sent = false;            // close_notify queued (RFC 8446 §6.1)
    bool renegotiation = false;          // the peer began a second handshake (TLS 1.2)
    bool buffers_listed = false;         // in TlsLoop's list of sessions holding record buffers
    bool active = false;                 // data moved since the last idle sweep
    bool kernel_pending = false;         // waiting for its receive to stop, to go to the kernel
    bool kernel_paused_reading = false;  // ... and the loop paused reading for that
    uint8_t kernel_attempts = 0;         // handovers given up (not at a record boundary)
};

}  // namespace wsgate::tls
