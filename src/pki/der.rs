//! The few DER pieces raytls needs by hand: reading a TLV, and wrapping PKCS#1 / SEC1
//! private keys into PKCS#8, because ring (and so rcgen on ring) loads only PKCS#8.

pub const TAG_SEQUENCE: u8 = 0x30;
pub const TAG_INTEGER: u8 = 0x02;
pub const TAG_OCTET_STRING: u8 = 0x04;
pub const TAG_OID: u8 = 0x06;
pub const TAG_NULL: u8 = 0x05;
pub const TAG_BIT_STRING: u8 = 0x03;

/// OID bodies (the content octets, without tag and length).
pub const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub const OID_RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
pub const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
pub const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
pub const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
pub const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
pub const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];

/// Read one tag-length-value from the front of `input`: (tag, value, rest).
/// Returns None on anything malformed (indefinite or over-long lengths included).
pub fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// Encode one TLV.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(value);
    out
}

/// PKCS#8 PrivateKeyInfo around a key in its algorithm's own format.
/// `params` is the AlgorithmIdentifier's parameters TLV (NULL for RSA, the curve OID for EC).
pub fn pkcs8_wrap(alg_oid: &[u8], params: &[u8], private_key: &[u8]) -> Vec<u8> {
    let mut alg = tlv(TAG_OID, alg_oid);
    alg.extend_from_slice(params);
    let mut body = tlv(TAG_INTEGER, &[0]);
    body.extend(tlv(TAG_SEQUENCE, &alg));
    body.extend(tlv(TAG_OCTET_STRING, private_key));
    tlv(TAG_SEQUENCE, &body)
}

/// The AlgorithmIdentifier of a PKCS#8 PrivateKeyInfo: (algorithm OID, parameters TLV).
pub fn pkcs8_algorithm(pkcs8: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, info, _) = read_tlv(pkcs8)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let (tag, _version, rest) = read_tlv(info)?;
    if tag != TAG_INTEGER {
        return None;
    }
    let (tag, alg, _) = read_tlv(rest)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let (tag, oid, params) = read_tlv(alg)?;
    if tag != TAG_OID {
        return None;
    }
    Some((oid, params))
}

/// One TLV read from the front of a buffer, with its whole encoding.
pub struct Tlv<'a> {
    pub whole: &'a [u8],
    pub tag: u8,
    pub rest: &'a [u8],
}

/// Like [`read_tlv`], keeping the whole encoding (to copy a field unchanged).
pub fn split_tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (tag, _value, rest) = read_tlv(input)?;
    Some(Tlv {
        whole: &input[..input.len() - rest.len()],
        tag,
        rest,
    })
}

/// Put `issuer_name` (a DER Name, copied byte for byte from the CA's subject) into an
/// X.509 certificate's TBS and sign the new TBS with `sign`. Path building compares names
/// as bytes, so a re-encoded CA subject (repeated attributes, multi-valued RDNs, unusual
/// string types) would not chain; the CA's own bytes always do.
pub fn replace_issuer_and_sign(
    cert: &[u8],
    issuer_name: &[u8],
    sign: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let (tag, body, _) = read_tlv(cert)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let (_, tbs, rest) = read_tlv(body)?;
    let signature_algorithm = split_tlv(rest)?.whole;
    let mut fields = Vec::with_capacity(tbs.len() + issuer_name.len());
    let mut cur = split_tlv(tbs)?;
    if cur.tag == 0xa0 {
        // [0] version
        fields.extend_from_slice(cur.whole);
        cur = split_tlv(cur.rest)?;
    }
    // serialNumber, then the signature AlgorithmIdentifier
    fields.extend_from_slice(cur.whole);
    cur = split_tlv(cur.rest)?;
    fields.extend_from_slice(cur.whole);
    let old_issuer = split_tlv(cur.rest)?;
    if old_issuer.tag != TAG_SEQUENCE {
        return None;
    }
    fields.extend_from_slice(issuer_name);
    fields.extend_from_slice(old_issuer.rest);
    let new_tbs = tlv(TAG_SEQUENCE, &fields);
    let mut bit_string = vec![0u8]; // no unused bits
    bit_string.extend(sign(&new_tbs)?);
    let mut out = new_tbs;
    out.extend_from_slice(signature_algorithm);
    out.extend(tlv(TAG_BIT_STRING, &bit_string));
    Some(tlv(TAG_SEQUENCE, &out))
}

/// The serialNumber INTEGER's contents of a DER certificate (what x509-parser's
/// `raw_serial` gives), read without parsing the rest.
pub fn certificate_serial(cert: &[u8]) -> Option<&[u8]> {
    let (tag, body, _) = read_tlv(cert)?;
    let (tbs_tag, tbs, _) = read_tlv(body)?;
    if tag != TAG_SEQUENCE || tbs_tag != TAG_SEQUENCE {
        return None;
    }
    let mut cur = split_tlv(tbs)?;
    if cur.tag == 0xa0 {
        // [0] version
        cur = split_tlv(cur.rest)?;
    }
    let (tag, serial, _) = read_tlv(cur.whole)?;
    (tag == TAG_INTEGER).then_some(serial)
}

/// The privateKey OCTET STRING contents of a PKCS#8 PrivateKeyInfo.
pub fn pkcs8_private_key(pkcs8: &[u8]) -> Option<&[u8]> {
    let (_, info, _) = read_tlv(pkcs8)?;
    let (_, _version, rest) = read_tlv(info)?;
    let (_, _alg, rest) = read_tlv(rest)?;
    let (tag, key, _) = read_tlv(rest)?;
    (tag == TAG_OCTET_STRING).then_some(key)
}

/// The RSAPublicKey DER (SEQUENCE { n, e }) inside a PKCS#1 RSAPrivateKey, read without
/// ring, which refuses keys under 2048 bits that `inspect` must still describe.
pub fn rsa_public_from_pkcs1(pkcs1: &[u8]) -> Option<Vec<u8>> {
    let (tag, seq, _) = read_tlv(pkcs1)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let (_, _version, rest) = read_tlv(seq)?;
    let (tag_n, n, rest) = read_tlv(rest)?;
    let (tag_e, e, _) = read_tlv(rest)?;
    if tag_n != TAG_INTEGER || tag_e != TAG_INTEGER {
        return None;
    }
    let mut body = tlv(TAG_INTEGER, n);
    body.extend(tlv(TAG_INTEGER, e));
    Some(tlv(TAG_SEQUENCE, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_round_trip() {
        let value = vec![7u8; 300];
        let enc = tlv(TAG_OCTET_STRING, &value);
        assert_eq!(&enc[..4], &[0x04, 0x82, 0x01, 0x2c]);
        let (tag, v, rest) = read_tlv(&enc).unwrap();
        assert_eq!((tag, v.len(), rest.len()), (TAG_OCTET_STRING, 300, 0));
    }

    #[test]
    fn truncated_input_is_none_not_a_panic() {
        assert!(read_tlv(&[0x30, 0x82, 0x01]).is_none());
        assert!(read_tlv(&[0x30, 0x05, 0x00]).is_none());
        assert!(read_tlv(&[]).is_none());
        assert!(pkcs8_algorithm(&[0x30, 0x00]).is_none());
    }

    #[test]
    fn wrap_then_read_algorithm() {
        let params = tlv(TAG_OID, OID_P256);
        let p8 = pkcs8_wrap(OID_EC_PUBLIC_KEY, &params, &[1, 2, 3]);
        let (oid, p) = pkcs8_algorithm(&p8).unwrap();
        assert_eq!(oid, OID_EC_PUBLIC_KEY);
        assert_eq!(p, params.as_slice());
    }
}
