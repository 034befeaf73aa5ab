// The socket side of kernel TLS (Linux tls ULP; TLS_RX since 4.17, TLS 1.3
// and AES-256-GCM since 5.1, ChaCha20-Poly1305 since 5.11): installing the
// keys, reading a record that is not application data, sending an alert.
// The policy (when to switch, what a record means to the connection) is the
// loop's, through classify_control_record.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "tls/ktls_keys.hpp"

namespace wsgate::tls {

enum class KernelInstall : uint8_t {
    done,     // the kernel encrypts and decrypts from now on
    refused,  // nothing changed that matters: the connection stays in user space
    broken,   // receive is the kernel's but send could not be: close it
};

struct InstallResult {
    KernelInstall what = KernelInstall::refused;
    const char* step = "";  // the setsockopt that failed
    int error = 0;          // its errno
};

// setsockopt(TCP_ULP "tls"), then TLS_RX, then TLS_TX (receive first: where
// only it is refused, the socket is unchanged - a tls ULP without keys
// passes bytes through).
InstallResult install_kernel_tls(int fd, const KernelKeys& keys);

// TLS record content types (RFC 8446 §5.1).
inline constexpr uint8_t kAlertRecord = 21;
inline constexpr uint8_t kHandshakeRecord = 22;
inline constexpr uint8_t kApplicationDataRecord = 23;

// Under kernel receive, a record that is not application data stops a plain
// read (EIO); this reads it with its type (recvmsg, TLS_GET_RECORD_TYPE),
// without blocking. Returns its length, 0 at EOF, or -errno.
ssize_t read_control_record(int fd, uint8_t* buf, size_t cap, uint8_t* type);

// Sends an alert record (TLS_SET_RECORD_TYPE) without blocking: RFC 8446
// §6.1 close_notify is level 1 (warning), description 0. Returns 0 or -errno.
int send_alert(int fd, uint8_t level, uint8_t description);

enum class ControlRecord : uint8_t {
    data,           // application data after all: plaintext for the connection
    end,            // close_notify (RFC 8446 §6.1): as a FIN
    ignore,         // a NewSessionTicket (clients send none; harmless)
    key_update,     // RFC 8446 §4.6.3: the kernel here cannot take new keys
    renegotiation,  // a ClientHello on an established TLS 1.2 connection (refused)
    fatal,          // any other alert or handshake message
};

// What a non-data record means to the connection.
ControlRecord classify_control_record(uint8_t type, const uint8_t* body, size_t len);

}  // namespace wsgate::tls
