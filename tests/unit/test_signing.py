"""RSA keys and PKCS#1 v1.5 signatures as both sides of the wire use them.

The original project's published test vector is not available here, so the
legacy format is proven by round trips: keys exported the way the Java
project stores them (bare Base64 DER) load and sign interchangeably with PEM.
"""
from __future__ import annotations

import base64
import random

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bank_depository.protocol import signing


# -- helpers ------------------------------------------------------------------
def _is_probable_prime(n: int, rng: random.Random) -> bool:
    if n < 2:
        return False
    for small in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % small == 0:
            return n == small
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(32):
        x = pow(rng.randrange(2, n - 1), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def weak_512_bit_key() -> rsa.RSAPrivateKey:
    """A deterministic 512-bit key like the original's demo keys (cryptography refuses to generate one)."""
    rng = random.Random(512)

    def prime(bits: int) -> int:
        while True:
            c = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
            if (c - 1) % 65537 and _is_probable_prime(c, rng):
                return c

    p, q, e = prime(256), prime(256), 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key()


def bare_der_base64(key) -> str:
    """The Java project's key format: Base64 of PKCS#8 (private) or X.509 SPKI (public) DER, no PEM armour."""
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    else:
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode("ascii")


def pem(key) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def pair():
    private_pem, public_pem = signing.generate_key_pair()
    return private_pem, public_pem


# -- loading ------------------------------------------------------------------
def test_generated_pairs_are_2048_bit_pem_that_load_back(pair):
    private_pem, public_pem = pair
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----")
    assert signing.load_private_key(private_pem).key_size == 2048
    assert signing.load_public_key(public_pem).key_size == 2048


def test_keys_load_from_pem_text_bytes_and_files(pair, tmp_path):
    private_pem, public_pem = pair
    (tmp_path / "k.pem").write_bytes(public_pem)
    for material in (public_pem, public_pem.decode(), tmp_path / "k.pem"):
        assert signing.load_public_key(material).public_numbers() == \
            signing.load_public_key(public_pem).public_numbers()
    assert signing.load_private_key(private_pem.decode()).key_size == 2048


def test_keys_load_from_the_originals_bare_base64_der(pair):
    private = signing.load_private_key(pair[0])
    public = signing.load_public_key(pair[1])
    from_der_private = signing.load_private_key(bare_der_base64(private))
    from_der_public = signing.load_public_key(bare_der_base64(public))
    assert from_der_private.private_numbers() == private.private_numbers()
    assert from_der_public.public_numbers() == public.public_numbers()


@pytest.mark.parametrize("width, newline", [(64, "\n"), (76, "\r\n")])
def test_bare_base64_der_wrapped_at_a_column_still_loads(pair, width, newline):
    public = signing.load_public_key(pair[1])
    text = bare_der_base64(public)
    wrapped = newline.join(text[i:i + width] for i in range(0, len(text), width)) + newline
    assert signing.load_public_key(wrapped).public_numbers() == public.public_numbers()
    private_text = bare_der_base64(signing.load_private_key(pair[0]))
    wrapped = newline.join(private_text[i:i + width] for i in range(0, len(private_text), width))
    assert signing.load_private_key(wrapped).key_size == 2048


def test_a_pem_signature_verifies_with_the_der_loaded_key_and_back(pair):
    private = signing.load_private_key(pair[0])
    der_public = signing.load_public_key(bare_der_base64(signing.load_public_key(pair[1])))
    der_private = signing.load_private_key(bare_der_base64(private))
    data = '{"requestNo":"R1","amount":"100.00","fullname":"张三"}'.encode()
    assert signing.verify(der_public, data, signing.sign(private, data))
    assert signing.verify(signing.load_public_key(pair[1]), data, signing.sign(der_private, data))


@pytest.mark.parametrize("material", ["", "not base64 !!", base64.b64encode(b"not DER").decode(),
                                      "-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----"])
def test_unreadable_key_material_is_a_key_error(material):
    with pytest.raises(signing.KeyError_):
        signing.load_public_key(material)
    with pytest.raises(signing.KeyError_):
        signing.load_private_key(material)


def test_a_private_key_is_not_accepted_as_a_public_key(pair):
    with pytest.raises(signing.KeyError_):
        signing.load_public_key(pair[0])


# -- weak keys ----------------------------------------------------------------
def test_a_512_bit_key_is_refused_unless_weak_keys_are_allowed():
    weak = weak_512_bit_key()
    assert weak.key_size == 512
    for material in (pem(weak), bare_der_base64(weak)):
        with pytest.raises(signing.KeyError_, match="too weak"):
            signing.load_private_key(material)
        assert signing.load_private_key(material, allow_weak=True).key_size == 512
    for material in (pem(weak.public_key()), bare_der_base64(weak.public_key())):
        with pytest.raises(signing.KeyError_, match="too weak"):
            signing.load_public_key(material)
        assert signing.load_public_key(material, allow_weak=True).key_size == 512


def test_an_allowed_weak_key_signs_with_sha1_as_the_original_did():
    weak = signing.load_private_key(pem(weak_512_bit_key()), allow_weak=True)
    public = signing.load_public_key(bare_der_base64(weak.public_key()), allow_weak=True)
    data = b'{"requestNo":"R1"}'
    signature = signing.sign(weak, data, signing.SHA1)
    assert signing.verify(public, data, signature, signing.SHA1)
    assert not signing.verify(public, data, signature, signing.SHA256)


# -- signatures ---------------------------------------------------------------
@pytest.mark.parametrize("algorithm, hash_cls", [(signing.SHA256, hashes.SHA256), (signing.SHA1, hashes.SHA1)])
def test_signatures_are_base64_pkcs1_v15_with_the_named_hash(pair, algorithm, hash_cls):
    private = signing.load_private_key(pair[0])
    data = "万信 P2P".encode()
    signature = signing.sign(private, data, algorithm)
    raw = base64.b64decode(signature, validate=True)
    assert len(raw) == 256
    # Independent check with the library directly: exactly RSASSA-PKCS1-v1_5 over the bytes.
    private.public_key().verify(raw, data, padding.PKCS1v15(), hash_cls())
    assert signing.verify(private.public_key(), data, signature, algorithm)


def test_pkcs1_v15_signatures_are_deterministic(pair):
    private = signing.load_private_key(pair[0])
    assert signing.sign(private, b"same", signing.SHA256) == signing.sign(private, b"same", signing.SHA256)


def test_a_signature_made_with_one_hash_does_not_verify_as_the_other(pair):
    private = signing.load_private_key(pair[0])
    sha1 = signing.sign(private, b"data", signing.SHA1)
    assert not signing.verify(private.public_key(), b"data", sha1, signing.SHA256)
    assert signing.verify(private.public_key(), b"data", sha1, signing.SHA1)


def test_tampered_data_or_signature_or_another_key_does_not_verify(pair):
    private = signing.load_private_key(pair[0])
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signature = signing.sign(private, b"amount=100.00")
    assert not signing.verify(private.public_key(), b"amount=100.01", signature)
    assert not signing.verify(other.public_key(), b"amount=100.00", signature)
    flipped = bytearray(base64.b64decode(signature))
    flipped[10] ^= 1
    assert not signing.verify(private.public_key(), b"amount=100.00", base64.b64encode(bytes(flipped)).decode())


@pytest.mark.parametrize("signature", ["", "not base64!", "AAAA", None, 12])
def test_verify_never_raises_on_garbage_signatures(pair, signature):
    assert signing.verify(signing.load_public_key(pair[1]), b"data", signature) is False


def test_an_unknown_algorithm_is_a_key_error(pair):
    with pytest.raises(signing.KeyError_, match="unknown signature algorithm"):
        signing.sign(signing.load_private_key(pair[0]), b"x", "MD5withRSA")


def test_key_text_takes_pem_base64_der_and_paths_even_for_a_base64_longer_than_a_file_name(tmp_path):
    from pathlib import Path

    from bank_depository.protocol.signing import key_text

    long_b64 = "M" * 400  # one path component of 400 characters: the OS refuses such a name
    assert key_text(long_b64) == long_b64
    pem = "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n"
    assert key_text(pem) == pem
    path = tmp_path / "k.pem"
    path.write_text(pem)
    assert key_text(str(path)) == pem and key_text(Path(path)) == pem and key_text(pem.encode()) == pem
