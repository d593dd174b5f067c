#!/usr/bin/env python3
# Test vectors for docs/math.md §1.6 (RoPE 1D in both layouts, 2D split and tie) and §2.5
# (entropy-invariant attention, d = 2, four keys: standard, log_512 n without and with the
# n_min = 16 floor, causal). Prints the frequencies, the rotated vectors, the relative inner
# products, every attention row P and output row O, and the scale factors log_512(n)/√2.
# Checked by: tests/attention/rope_test.cpp, tests/attention/attention_test.cpp,
#             tests/js/attention.test.mjs.
#
# Run by hand, not by CI:   python3 tests/vectors/t_rope_attn.py
# It needs only mpmath (Debian: apt-get install python3-mpmath; or pip install mpmath) and
# computes at 30–40 significant digits; the values are printed rounded (10–15 digits) and are
# the ones the tests compare against. docs/math.md §10 lists which section each script serves.

try:
    import mpmath  # noqa: F401
except ImportError:
    raise SystemExit('t_rope_attn.py: needs mpmath (apt-get install python3-mpmath, or pip install mpmath)')

from mpmath import mp, mpf, cos, sin, log, sqrt, exp, matrix
mp.dps = 30
def f(x, n=12): return mp.nstr(x, n)

def thetas(d, base=10000):
    return [mpf(base)**(-mpf(2*i)/d) for i in range(d//2)]

def rope_inter(x, m, base=10000):
    d=len(x); th=thetas(d,base); y=[0]*d
    for i in range(d//2):
        c,s=cos(m*th[i]),sin(m*th[i])
        y[2*i]=x[2*i]*c-x[2*i+1]*s; y[2*i+1]=x[2*i+1]*c+x[2*i]*s
    return y
def rope_half(x, m, base=10000):
    d=len(x); h=d//2; th=thetas(d,base); y=[0]*d
    for i in range(h):
        c,s=cos(m*th[i]),sin(m*th[i])
        y[i]=x[i]*c-x[i+h]*s; y[i+h]=x[i+h]*c+x[i]*s
    return y
dot=lambda a,b: sum(p*q for p,q in zip(a,b))
x=[mpf(1),mpf(2),mpf(3),mpf(4)]
print("theta d=4:", [f(t) for t in thetas(4)])
print("interleaved m=1:", [f(v) for v in rope_inter(x,1)])
print("half-split  m=1:", [f(v) for v in rope_half(x,1)])
print("interleaved m=0:", [f(v) for v in rope_inter(x,0)])
# permutation relation: half(x) = Pinv inter(P x), (Px)_{2i}=x_i,(Px)_{2i+1}=x_{i+h}
def P(x):
    h=len(x)//2; y=[0]*len(x)
    for i in range(h): y[2*i]=x[i]; y[2*i+1]=x[i+h]
    return y
def Pinv(y):
    h=len(y)//2; x=[0]*len(y)
    for i in range(h): x[i]=y[2*i]; x[i+h]=y[2*i+1]
    return x
print("perm check max err:", f(max(abs(a-b) for a,b in zip(rope_half(x,1), Pinv(rope_inter(P(x),1)))),3))
q=[mpf(1),mpf(2),mpf(3),mpf(4)]; k=[mpf('0.5'),mpf(-1),mpf(2),mpf('0.25')]
for (m,n) in [(5,3),(12,10),(0,-2)]:
    print("inter <R_m q,R_n k> m=%d n=%d:"%(m,n), f(dot(rope_inter(q,m),rope_inter(k,n))),
          " half:", f(dot(rope_half(q,m),rope_half(k,n))))
print("q^T R_{n-m} k (n-m=-2):", f(dot(q, rope_inter(k,-2))))
print("plain q.k:", f(dot(q,k)))
# 2D RoPE split mode: d=8, halves of 4 each with their own 1D schedule over 4 dims
v=[mpf(i) for i in range(1,9)]
def rope2d_split(v,x,y,base=10000):
    h=len(v)//2
    return rope_inter(v[:h],x,base)+rope_inter(v[h:],y,base)
print("2D split (x,y)=(2,3):", [f(t) for t in rope2d_split(v,2,3)])
# relative 2D check
q8=[mpf(a) for a in [1,-1,2,0.5,0,3,-2,1]]; k8=[mpf(a) for a in [0.5,2,-1,1,1,1,0.25,-3]]
print("2D rel: <R(1,4)q,R(3,1)k> =", f(dot(rope2d_split(q8,1,4),rope2d_split(k8,3,1))),
      " <R(0,0)q,R(2,-3)k> =", f(dot(q8,rope2d_split(k8,2,-3))))
# tie mode: pair i uses full-d theta_i with x if i even else y (interleaved layout)
def rope2d_tie(v,x,y,base=10000):
    d=len(v); th=thetas(d,base); out=[0]*d
    for i in range(d//2):
        p = x if i%2==0 else y
        c,s=cos(p*th[i]),sin(p*th[i])
        out[2*i]=v[2*i]*c-v[2*i+1]*s; out[2*i+1]=v[2*i+1]*c+v[2*i]*s
    return out
print("2D tie (x,y)=(2,3):", [f(t) for t in rope2d_tie(v,2,3)])
print("tie(n,n)==1D(n) err:", f(max(abs(a-b) for a,b in zip(rope2d_tie(v,7,7),rope_inter(v,7))),3))

# ---------- entropy-invariant attention ----------
Q=[[1,0],[0,1],[1,1],[0.5,-1]]; K=[[1,0],[0,1],[-1,0],[1,1]]; V=[[1,0],[0,1],[1,1],[2,-1]]
Q=[[mpf(a) for a in r] for r in Q];K=[[mpf(a) for a in r] for r in K];V=[[mpf(a) for a in r] for r in V]
d=2
def softmax(z):
    mx=max(z); e=[exp(t-mx) for t in z]; S=sum(e); return [t/S for t in e]
def attn(Q,K,V,scale_fn,causal=False,nmin=1,base=512):
    out=[];probs=[]
    for i,qi in enumerate(Q):
        vis = list(range(i+1)) if causal else list(range(len(K)))
        n=max(len(vis),nmin)
        c=scale_fn(n)
        s=[c*dot(qi,K[j]) for j in vis]
        p=softmax(s); probs.append(p)
        out.append([sum(p[t]*V[j][c2] for t,j in enumerate(vis)) for c2 in range(len(V[0]))])
    return out,probs
std=lambda n: 1/sqrt(d)
ei=lambda n: log(n)/log(512)/sqrt(d)
for name,fn,causal,nmin in [("standard",std,False,1),("EI no-clamp",ei,False,1),("EI clamp16",ei,False,16),("EI causal no-clamp",ei,True,1)]:
    o,p=attn(Q,K,V,fn,causal,nmin)
    print(name)
    for i in range(4): print("  row",i,"P=",[f(t,10) for t in p[i]]," O=",[f(t,10) for t in o[i]])
print("scale factors no-clamp n=1..4:", [f(ei(n),12) for n in range(1,5)])
print("log512(16)=",f(log(16)/log(512)))
# entropy of rows
def H(p): return -sum(t*log(t) for t in p if t>0)
