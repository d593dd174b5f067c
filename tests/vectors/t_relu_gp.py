#!/usr/bin/env python3
# Test vectors for docs/math.md §5.4 (c): the WGAN-GP penalty of the §5.4 (b) critic with ReLU
# instead of tanh (z, ∇_x D, ‖∇_x D‖, the penalty and its parameter gradient, whose bias entries
# are exactly 0), and the deviation from central finite differences.
# Checked by: tests/gan/wgan_gp_test.cpp, tests/js/gan.test.mjs.
#
# Run by hand, not by CI:   python3 tests/vectors/t_relu_gp.py
# It needs only mpmath (Debian: apt-get install python3-mpmath; or pip install mpmath) and
# computes at 30–40 significant digits; the values are printed rounded (10–15 digits) and are
# the ones the tests compare against. docs/math.md §10 lists which section each script serves.

try:
    import mpmath  # noqa: F401
except ImportError:
    raise SystemExit('t_relu_gp.py: needs mpmath (apt-get install python3-mpmath, or pip install mpmath)')

from mpmath import mp, mpf, sqrt, nstr
mp.dps=40
f=lambda x,n=10: nstr(x,n)
lam=mpf(10)
W1=[[mpf(1),mpf(-1)],[mpf('0.5'),mpf(2)]]; b1=[mpf(0),mpf('0.1')]; w2=[mpf(1),mpf(-2)]; b2=mpf('0.3')
def relu(t): return t if t>0 else mpf(0)
def drelu(t): return mpf(1) if t>0 else mpf(0)
def D(x,W1=W1,b1=b1,w2=w2,b2=b2):
    z=[W1[i][0]*x[0]+W1[i][1]*x[1]+b1[i] for i in range(2)]
    return sum(w2[i]*relu(z[i]) for i in range(2))+b2, z
def gradx(x,W1=W1,b1=b1,w2=w2):
    _,z=D(x,W1,b1,w2); e=[w2[i]*drelu(z[i]) for i in range(2)]
    return [W1[0][j]*e[0]+W1[1][j]*e[1] for j in range(2)], e, z
xr=[mpf(1),mpf(0)]; xf=[mpf(0),mpf(1)]; ep=mpf('0.25'); xh=[ep*xr[i]+(1-ep)*xf[i] for i in range(2)]
g,e,z=gradx(xh); s=sqrt(g[0]**2+g[1]**2)
# mixed term for ReLU: e_dot=0 => dW1 = e v^T, db1 = 0, dw2 = h_dot = relu'(z)*(W1 v), db2=0
v=g; zd=[W1[i][0]*v[0]+W1[i][1]*v[1] for i in range(2)]
mix=[e[0]*v[0],e[0]*v[1],e[1]*v[0],e[1]*v[1],0,0,drelu(z[0])*zd[0],drelu(z[1])*zd[1],0]
gp=[2*lam*(s-1)/s*t for t in mix]
print("ReLU critic: x_hat",[f(t) for t in xh]," z",[f(t) for t in z]," g",[f(t) for t in g]," s",f(s)," GP",f(lam*(s-1)**2))
print("dGP/d[W1_00,W1_01,W1_10,W1_11,b1_0,b1_1,w2_0,w2_1,b2]",[f(t) for t in gp])
# finite diff on GP only
def GP(params):
    W1_=[params[0:2],params[2:4]]; b1_=params[4:6]; w2_=params[6:8]
    gg,_,_=gradx(xh,W1_,b1_,w2_); return lam*(sqrt(gg[0]**2+gg[1]**2)-1)**2
p0=[W1[0][0],W1[0][1],W1[1][0],W1[1][1],b1[0],b1[1],w2[0],w2[1],b2]
h=mpf('1e-20'); fd=[]
for i in range(9):
    pp=list(p0); pm=list(p0); pp[i]+=h; pm[i]-=h; fd.append((GP(pp)-GP(pm))/(2*h))
print("max err vs fd",f(max(abs(a-b) for a,b in zip(gp,fd)),3))
