package tokentest

// LoginJWKS is a public JWK Set for a login service whose subject tokens a
// test never signs: the P-256 key of RFC 7515 appendix A.3. A client may
// exchange only with keys registered.
const LoginJWKS = `{"keys":[{"kty":"EC","crv":"P-256","kid":"rfc7515-a3","alg":"ES256","use":"sig","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
