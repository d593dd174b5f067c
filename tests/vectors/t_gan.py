#!/usr/bin/env python3
# Test vectors for docs/math.md §5.4 (b) (WGAN-GP with the 2→2→1 tanh critic: D, ∇_x D, the
# penalty, L_D and its parameter gradient, the generator loss) and §6A (GN and GraN on a linear
# critic and on the same tanh critic: values, ∇_θ f̂, ∇_x f̂ exact and piecewise-linear).
# Also prints the largest deviation of each analytic gradient from central finite differences.
# Checked by: tests/gan/wgan_gp_test.cpp, tests/gan/gradient_normalization_test.cpp,
#             tests/nn/mlp_test.cpp, tests/js/gan.test.mjs.
#
# Run by hand, not by CI:   python3 tests/vectors/t_gan.py
# It needs only mpmath (Debian: apt-get install python3-mpmath; or pip install mpmath) and
# computes at 30–40 significant digits; the values are printed rounded (10–15 digits) and are
# the ones the tests compare against. docs/math.md §10 lists which section each script serves.

try:
    import mpmath  # noqa: F401
except ImportError:
    raise SystemExit('t_gan.py: needs mpmath (apt-get install python3-mpmath, or pip install mpmath)')

from mpmath import mp, mpf, tanh, sqrt, nstr
mp.dps = 40
def f(x,n=10): return nstr(x,n)
lam=mpf(10)
# params: W1 (2x2), b1 (2), w2 (2), b2
th0={'W1':[[mpf(1),mpf(-1)],[mpf('0.5'),mpf(2)]],'b1':[mpf(0),mpf('0.1')],'w2':[mpf(1),mpf(-2)],'b2':mpf('0.3')}
def flat(th): return th['W1'][0]+th['W1'][1]+th['b1']+th['w2']+[th['b2']]
def unflat(v): return {'W1':[v[0:2],v[2:4]],'b1':v[4:6],'w2':v[6:8],'b2':v[8]}
names=['W1_00','W1_01','W1_10','W1_11','b1_0','b1_1','w2_0','w2_1','b2']
def fwd(th,x):
    W1,b1,w2,b2=th['W1'],th['b1'],th['w2'],th['b2']
    z=[W1[i][0]*x[0]+W1[i][1]*x[1]+b1[i] for i in range(2)]
    h=[tanh(t) for t in z]
    D=w2[0]*h[0]+w2[1]*h[1]+b2
    e=[w2[i]*(1-h[i]**2) for i in range(2)]          # dD/dz
    g=[W1[0][j]*e[0]+W1[1][j]*e[1] for j in range(2)] # dD/dx
    return z,h,D,e,g
def gradD_theta(th,x):
    z,h,D,e,g=fwd(th,x)
    return [e[0]*x[0],e[0]*x[1],e[1]*x[0],e[1]*x[1],e[0],e[1],h[0],h[1],mpf(1)]
def mixed(th,x,v):
    """grad_theta <grad_x D(x), v> via forward-over-reverse"""
    W1,w2=th['W1'],th['w2']
    z,h,D,e,g=fwd(th,x)
    zd=[W1[i][0]*v[0]+W1[i][1]*v[1] for i in range(2)]
    hd=[(1-h[i]**2)*zd[i] for i in range(2)]
    ed=[-2*h[i]*(1-h[i]**2)*zd[i]*w2[i] for i in range(2)]
    gW=[ed[0]*x[0]+e[0]*v[0], ed[0]*x[1]+e[0]*v[1], ed[1]*x[0]+e[1]*v[0], ed[1]*x[1]+e[1]*v[1]]
    return gW+[ed[0],ed[1],hd[0],hd[1],mpf(0)]
xr=[mpf(1),mpf(0)]; xf=[mpf(0),mpf(1)]; eps_=mpf('0.25')
xh=[eps_*xr[i]+(1-eps_)*xf[i] for i in range(2)]
def LD(th):
    _,_,Dr,_,_=fwd(th,xr); _,_,Df,_,_=fwd(th,xf); _,_,_,_,g=fwd(th,xh)
    s=sqrt(g[0]**2+g[1]**2)
    return Df-Dr+lam*(s-1)**2, Dr, Df, g, s
L,Dr,Df,g,s=LD(th0)
print("x_hat",[f(t) for t in xh]," D(x_real)",f(Dr)," D(x_fake)",f(Df)," grad_x D(x_hat)",[f(t) for t in g]," ||g||",f(s)," GP",f(lam*(s-1)**2)," L_D",f(L))
mv=mixed(th0,xh,g)
gp_grad=[2*lam*(s-1)/s*t for t in mv]
gr=gradD_theta(th0,xr); gf=gradD_theta(th0,xf)
tot=[gf[i]-gr[i]+gp_grad[i] for i in range(9)]
print("dGP/dtheta analytic:",dict(zip(names,[f(t) for t in gp_grad])))
print("dL_D/dtheta analytic:",dict(zip(names,[f(t) for t in tot])))
v0=flat(th0); hstep=mpf('1e-15')
fd=[]
for i in range(9):
    vp=list(v0); vm=list(v0); vp[i]+=hstep; vm[i]-=hstep
    fd.append((LD(unflat(vp))[0]-LD(unflat(vm))[0])/(2*hstep))
print("max |analytic - finite diff| =", f(max(abs(a-b) for a,b in zip(tot,fd)),3))
# generator loss grad wrt fake sample: -grad_x D(x_fake)
_,_,_,_,gfx=fwd(th0,xf); print("L_G=-D(x_fake)=",f(-Df)," dL_G/dx_fake=",[f(-t) for t in gfx])
# ---------------- Gradient normalization ----------------
def fhat_GN(th,x):
    _,_,F,_,g=fwd(th,x); n=sqrt(g[0]**2+g[1]**2); return F/(n+abs(F)), F, n, g
def fhat_GraN(th,x,eps):
    _,_,F,_,g=fwd(th,x); n=sqrt(g[0]**2+g[1]**2); return F*n/(n**2+eps)
x=[mpf('0.3'),mpf('-0.2')]
fh,F,n,gx=fhat_GN(th0,x)
print("GN at x",[f(t) for t in x],": f",f(F)," ||grad f||",f(n)," f_hat",f(fh)," GraN(eps=0.01)",f(fhat_GraN(th0,x,mpf('0.01')))," GraN(eps=1)",f(fhat_GraN(th0,x,mpf(1))))
# analytic grad wrt theta of GN
mvx=mixed(th0,x,gx); dn=[t/n for t in mvx]; dF=gradD_theta(th0,x)
den=(n+abs(F))**2
dfh=[(n*dF[i]-F*dn[i])/den for i in range(9)]
v0=flat(th0); fd=[]
for i in range(9):
    vp=list(v0); vm=list(v0); vp[i]+=hstep; vm[i]-=hstep
    fd.append((fhat_GN(unflat(vp),x)[0]-fhat_GN(unflat(vm),x)[0])/(2*hstep))
print("GN dfhat/dtheta:",dict(zip(names,[f(t) for t in dfh])))
print("GN max |analytic-fd| theta:",f(max(abs(a-b) for a,b in zip(dfh,fd)),3))
# grad wrt x (exact, with Hessian) and piecewise-linear approximation
W1,w2=th0['W1'],th0['w2']; z,h,_,_,_=fwd(th0,x)
c=[w2[i]*(-2*h[i]*(1-h[i]**2)) for i in range(2)]
Hx=[[sum(W1[k][a]*c[k]*W1[k][b] for k in range(2)) for b in range(2)] for a in range(2)]
dnx=[(Hx[a][0]*gx[0]+Hx[a][1]*gx[1])/n for a in range(2)]
dfx=[(n*gx[a]-F*dnx[a])/den for a in range(2)]
approx=[n*gx[a]/den for a in range(2)]
fdx=[]
for a in range(2):
    xp=list(x); xm=list(x); xp[a]+=hstep; xm[a]-=hstep
    fdx.append((fhat_GN(th0,xp)[0]-fhat_GN(th0,xm)[0])/(2*hstep))
print("GN dfhat/dx exact",[f(t) for t in dfx]," fd",[f(t) for t in fdx]," PL-approx g*grad/(g+|f|)^2",[f(t) for t in approx])
# linear critic tests
w=[mpf(3),mpf(4)]; xx=[mpf(1),mpf(1)]
F=w[0]*xx[0]+w[1]*xx[1]; n=sqrt(w[0]**2+w[1]**2)
print("linear: f",F," g",n," GN",f(F/(n+abs(F)))," GraN eps=1",f(F*n/(n**2+1))," dGN/dx",[f(n*t/(n+abs(F))**2) for t in w])
