(catalog-trust
 (acl
  (entry
   (subject
    (k-of-n
     "1"
     "2"
     (public-key (ed25519 (q |8AdcNhGtqdUJTF0JwtRm7FDmm4D8Ys39rRDjvIz9pZ4=|)))
     (public-key
      (ecdsa-p256-sha256
       (q
        |BEkd/M1WHVGWUPzaxaliQdeb0WEQHLPc+h2gwAhmnJq/Z+GBvKYLttdl6Qz5TM1Yb5eeez8xcRVes+QzwJS8prw=|)))))
   (propagate)
   (tag (endorse (* prefix hep-)))))
 (source http://198.18.0.1:8000/e.cat)
 (refresh (interval "600")))
