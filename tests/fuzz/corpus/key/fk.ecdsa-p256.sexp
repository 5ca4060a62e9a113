(10:public-key(17:ecdsa-p256-sha256(1:q65:Ó8§UF@ß"Îï€Eû¬ÇIsJúÍ<å™.k,Yúy[<HmC×ê
Û»Y=ö}V¦mµ} ÛzpÖ)))