from __future__ import annotations

import base64
import uuid


def b64(token: str) -> str:
    return base64.b64encode(token.encode()).decode()


def check(reader, path: str, token: str | None, headers: dict | None = None, **params):
    h = dict(headers or {})
    if token is not None:
        h["x-api-token"] = token
    return reader.simulate_get(path, params={k: v for k, v in params.items() if v is not None}, headers=h)


class CuttingProxy:
    """A TCP proxy that drops its first ``cuts`` connections after ``after`` request bytes, then relays."""

    def __init__(self, upstream: tuple[str, int], after: int, cuts: int = 1):
        import socket
        import threading

        self.upstream, self.after, self.cuts = upstream, after, cuts
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            cut = self.cuts > 0
            self.cuts -= cut
            threading.Thread(
                target=self._pipe, args=(client, server, self.after if cut else None), daemon=True
            ).start()
            threading.Thread(target=self._pipe, args=(server, client, None), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, limit: int | None) -> None:
        sent = 0
        try:
            while data := src.recv(65536):
                if limit is not None and sent + len(data) > limit:
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (src, dst):  # shutdown wakes the other direction's blocked recv; close alone would not
            try:
                s.shutdown(2)
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()


def uid(label: str) -> str:
    """A device id as plugins make them (a UUID), the same for the same label: Capgo's endpoints refuse others."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gatehouse-test:{label}"))


def certificate(key, common_name: str, not_before, not_after, extensions=()):
    """A self-signed X.509 certificate for ``key`` (the tests' devices and edges): ``extensions`` are
    (extension, critical) pairs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key, hashes.SHA256())
