"""Self-signed TLS certificates for servers on 127.0.0.1 that tests start (fake Prometheus, the API emulator)."""
from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed_pem(*, common_name: str, host: str = "127.0.0.1",
                    valid_for: datetime.timedelta = datetime.timedelta(hours=1)) -> tuple[bytes, bytes]:
    """(certificate, key) in PEM for `host` and localhost; the certificate is its own CA, so it can be trusted
    with a CA file of itself."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + valid_for)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def write_self_signed(directory: Path, *, common_name: str) -> tuple[Path, Path]:
    """A fresh self-signed certificate for 127.0.0.1 and its key as files: (certificate file, key file)."""
    certificate_pem, key_pem = self_signed_pem(common_name=common_name)
    certificate_path, key_path = directory / "tls.crt", directory / "tls.key"
    certificate_path.write_bytes(certificate_pem)
    key_path.write_bytes(key_pem)
    return certificate_path, key_path
