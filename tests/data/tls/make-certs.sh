#!/bin/sh
# Makes the TLS test certificates in this folder (OpenSSL 3): a test root CA, an intermediate
# CA signed by it, and a server certificate for localhost, 127.0.0.1 and ::1 signed by the
# intermediate; all valid from 2000 to 9999, so the tests never meet an expiry or a clock
# behind. Test-only keys: nothing outside the tests trusts this CA. Run it again to renew them.
#   ca.pem            the root certificate, the only one the test clients trust
#   ca-key.pem        its key (the unit tests use it as a key that matches no served certificate)
#   server-chain.pem  the server certificate, then the intermediate: clients can verify the
#                     server only if the whole chain is sent
#   server-key.pem    the server's key (PKCS#8)
set -eu
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -r "$work"' EXIT
touch "$work/index.txt"
echo 1000 > "$work/serial"
cat > "$work/ca.cnf" <<EOF
[ca]
default_ca = test_ca
[test_ca]
database = $work/index.txt
serial = $work/serial
new_certs_dir = $work
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
authorityKeyIdentifier = keyid
EOF
dates="-startdate 20000101000000Z -enddate 99991231235959Z"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem
openssl req -new -key ca-key.pem -subj "/CN=Tributary test CA" -out "$work/ca.csr"
# shellcheck disable=SC2086
openssl ca -batch -config "$work/ca.cnf" -selfsign -keyfile ca-key.pem -in "$work/ca.csr" \
    -extensions ca_ext $dates -notext -out ca.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/intermediate-key.pem"
openssl req -new -key "$work/intermediate-key.pem" -subj "/CN=Tributary test intermediate" -out "$work/intermediate.csr"
# shellcheck disable=SC2086
openssl ca -batch -config "$work/ca.cnf" -cert ca.pem -keyfile ca-key.pem -in "$work/intermediate.csr" \
    -extensions ca_ext $dates -notext -out "$work/intermediate.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server-key.pem
openssl req -new -key server-key.pem -subj "/CN=localhost" -out "$work/server.csr"
# shellcheck disable=SC2086
openssl ca -batch -config "$work/ca.cnf" -cert "$work/intermediate.pem" -keyfile "$work/intermediate-key.pem" \
    -in "$work/server.csr" -extensions server_ext $dates -notext -out "$work/server.pem"
cat "$work/server.pem" "$work/intermediate.pem" > server-chain.pem
openssl verify -CAfile ca.pem -untrusted "$work/intermediate.pem" "$work/server.pem"
