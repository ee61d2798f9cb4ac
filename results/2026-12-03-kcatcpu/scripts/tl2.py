import json,sys
# per-second bins from the first stored MB: cores and CPU s/GiB (bytes stored = wchar)
for lab in sys.argv[1:]:
    s=json.load(open(f'samples-{lab}.json'))
    w0=s[0]['wchar']; st=next(x['t'] for x in s if x['wchar']>w0+1e6)
    out=[]; k=0
    def at(t,key):
        for a,b in zip(s,s[1:]):
            if a['t']<=t<=b['t']: return a[key]+(t-a['t'])/(b['t']-a['t'])*(b[key]-a[key])
    while True:
        a,b=st+k,st+k+1
        if at(b,'cpu') is None: break
        byt=at(b,'wchar')-at(a,'wchar'); cpu=at(b,'cpu')-at(a,'cpu')
        if byt<1e6: break
        out.append(f"{byt/1e6:4.0f}/{cpu/(byt/2**30):.2f}"); k+=1
    print(f"{lab:8}", ' '.join(out))
