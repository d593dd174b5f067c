#!/usr/bin/env python3
# Test vectors for docs/math.md §6B (multi-task: normalised sum, MGDA for two and three tasks,
# Frank–Wolfe after 200 iterations, primary + auxiliary) and §7 (logsumexp, ZLPR, clipping (§7.3),
# FlatNCE, exponentiated gradient and the meta step size, GAU's relu² matrix, DeepNet constants,
# hubness, DDPM/DDIM steps, smoothing by convolution, GlobalPointer KL, probe/L2 attention row,
# LST gate, input/parameter gradient inequality). Only §6B and §7.3 are implemented so far.
# Checked by: tests/optim/multitask_test.cpp, tests/js/optim.test.mjs.
#
# Run by hand, not by CI:   python3 tests/vectors/t_misc.py
# It needs only mpmath (Debian: apt-get install python3-mpmath; or pip install mpmath) and
# computes at 30–40 significant digits; the values are printed rounded (10–15 digits) and are
# the ones the tests compare against. docs/math.md §10 lists which section each script serves.

try:
    import mpmath  # noqa: F401
except ImportError:
    raise SystemExit('t_misc.py: needs mpmath (apt-get install python3-mpmath, or pip install mpmath)')

from mpmath import mp, mpf, exp, log, sqrt, erf, pi, nstr, tanh
import itertools
mp.dps=30
def f(x,n=10): return nstr(x,n)
def lse(x):
    m=max(x)
    if m==mp.inf: return mp.inf
    if m==-mp.inf: return -mp.inf
    return m+log(sum(exp(t-m) for t in x))
sig=lambda t: 1/(1+exp(-t))
# ---- multi-task ----
def dot(a,b): return sum(p*q for p,q in zip(a,b))
def norm(a): return sqrt(dot(a,a))
g1=[mpf(1),mpf(0)]; g2=[mpf(0),mpf(2)]
u=[g1[i]/norm(g1)+g2[i]/norm(g2) for i in range(2)]
print("gradnorm sum",[f(t) for t in u]," <g1,u>",f(dot(g1,u))," <g2,u>",f(dot(g2,u)))
def minnorm2(a,b):
    d=[a[i]-b[i] for i in range(len(a))]; dd=dot(d,d)
    if dd==0: return mpf(1)
    gam=dot([b[i]-a[i] for i in range(len(a))],b)/dd
    return min(max(gam,mpf(0)),mpf(1))
gam=minnorm2(g1,g2); uu=[gam*g1[i]+(1-gam)*g2[i] for i in range(2)]
print("MGDA 2 tasks: weight on g1",f(gam)," u",[f(t) for t in uu]," ||u||^2",f(dot(uu,uu)))
# 3 tasks exact via active-set enumeration on Gram matrix
gs=[[mpf(1),mpf(0)],[mpf(0),mpf(1)],[mpf(-1),mpf('0.5')]]
from mpmath import matrix, lu_solve
best=None
n=len(gs)
for r in range(1,n+1):
    for S in itertools.combinations(range(n),r):
        # minimize a^T M a s.t. sum a=1 over support S: KKT [2M 1;1^T 0]
        M=matrix(r+1,r+1); rhs=matrix(r+1,1)
        for i,a in enumerate(S):
            for j,b in enumerate(S): M[i,j]=2*dot(gs[a],gs[b])
            M[i,r]=1; M[r,i]=1
        rhs[r]=1
        try: sol=lu_solve(M,rhs)
        except ZeroDivisionError: continue
        al=[sol[i] for i in range(r)]
        if min(al)< -mpf('1e-20'): continue
        w=[0]*n
        for i,a in enumerate(S): w[a]=al[i]
        vec=[sum(w[k]*gs[k][c] for k in range(n)) for c in range(2)]
        val=dot(vec,vec)
        if best is None or val<best[0]-mpf('1e-25'): best=(val,w,vec)
print("MGDA 3 tasks g=",[[f(t) for t in g] for g in gs]," alpha",[f(t) for t in best[1]]," u",[f(t) for t in best[2]]," ||u||^2",f(best[0]))
# Frank-Wolfe simplified (gamma=1/(k+1)) iterations
uk=list(gs[0]); 
for k in range(1,2001):
    tau=min(range(n),key=lambda i:dot(gs[i],uk))
    uk=[(k*uk[c]+gs[tau][c])/(k+1) for c in range(2)]
print("FW-simplified 2000 iters u",[f(t,6) for t in uk])
# FW with exact line search
al=[mpf(1)/3]*3
for it in range(200):
    ug=[sum(al[k]*gs[k][c] for k in range(n)) for c in range(2)]
    tau=min(range(n),key=lambda i:dot(gs[i],ug))
    d=[ug[c]-gs[tau][c] for c in range(2)]; dd=dot(d,d)
    if dd==0: break
    gm=min(max(dot(d,ug)/dd,mpf(0)),mpf(1))
    al=[(1-gm)*al[k]+(gm if k==tau else 0) for k in range(n)]
print("FW exact-linesearch 200 iters alpha",[f(t,8) for t in al])
# primary/auxiliary n=1: gamma = relu(-<g0,g1>)/||g1||^2
g0=[mpf(1),mpf(1)]; ga=[mpf(-1),mpf(0.5)]
gmm=max(-dot(g0,ga),0)/dot(ga,ga); print("primary-aux gamma",f(gmm)," u",[f(g0[i]+gmm*ga[i]) for i in range(2)])
# ---- logsumexp ----
x=[mpf(1),mpf(2),mpf(3)]
print("lse[1,2,3]",f(lse(x),15)," max+log n",f(3+log(3),12)," mean+log n",f(2+log(3),12))
p=[mpf('0.2'),mpf('0.3'),mpf('0.5')]
print("weighted lower bounds: sum p x - log sum p^2 =",f(dot(p,x)-log(dot(p,p)),12)," sum p x - sum p log p =",f(dot(p,x)-sum(t*log(t) for t in p),12))
print("softmax grad",[f(exp(t-lse(x)),12) for t in x])
print("lse large [1000,1000]",f(lse([mpf(1000),mpf(1000)]),15)," lse[-inf,0]",f(lse([-mp.inf,mpf(0)])))
# ---- ZLPR ----
s=[mpf(2),mpf(-1),mpf('0.5')]
hard=log(1+exp(-1)+exp(mpf('0.5')))+log(1+exp(-2))
print("ZLPR hard pos={0}",f(hard,12))
t=[mpf('0.9'),mpf('0.1'),mpf('0.5')]
A=sum(t[i]*exp(-s[i]) for i in range(3)); B=sum((1-t[i])*exp(s[i]) for i in range(3))
soft=log(1+A)+log(1+B)
grad=[-t[i]*exp(-s[i])/(1+A)+(1-t[i])*exp(s[i])/(1+B) for i in range(3)]
print("ZLPR soft",f(soft,12)," grad",[f(v,10) for v in grad]," prob sigma(2s)",[f(sig(2*v),10) for v in s])
# stationary check: s_i = 0.5 log(t/(1-t)) -> grad 0
s_opt=[log(ti/(1-ti))/2 for ti in t]
A=sum(t[i]*exp(-s_opt[i]) for i in range(3)); B=sum((1-t[i])*exp(s_opt[i]) for i in range(3))
print("  at s*=0.5*logit(t):",[f(v) for v in s_opt]," grad",[f(-t[i]*exp(-s_opt[i])/(1+A)+(1-t[i])*exp(s_opt[i])/(1+B),3) for i in range(3)])
# ---- clipping ----
g=[mpf(3),mpf(4)]; gm=norm(g); ga=1
print("clip1",[f(v*min(1,ga/gm)) for v in g]," clip2",[f(v*ga/(gm+ga)) for v in g])
# ---- FlatNCE ----
sc=[mpf(2),mpf('0.5'),mpf(-1)]
print("CE",f(lse(sc)-sc[0],12)," FlatNCE",f(lse(sc[1:])-sc[0],12)," FlatNCE grad",[f(mpf(-1))]+[f(exp(v-lse(sc[1:])),10) for v in sc[1:]])
# ---- EG + meta step ----
th=[mpf(1),mpf(2)]; g=[mpf('0.5'),mpf(-1)]
print("EG",[f(th[i]*exp(-mpf('0.1')*g[i]),10) for i in range(2)])
# meta: nu0=1, gamma=0.5, eta=0.1; grads g0,g1,g2 given
gamma=mpf('0.5'); eta=mpf('0.1'); nu=[mpf(1),mpf(1)]; th=[mpf(1),mpf(2)]
G=[[mpf('0.5'),mpf(-1)],[mpf('0.4'),mpf('0.6')],[mpf('0.2'),mpf('-0.3')]]
gprev=None
for tstep,gt in enumerate(G):
    if gprev is not None: nu=[nu[i]*exp(gamma*gprev[i]*gt[i]) for i in range(2)]
    th=[th[i]-eta*nu[i]*gt[i] for i in range(2)]
    print("  meta step",tstep,"nu",[f(v) for v in nu],"theta",[f(v) for v in th])
    gprev=gt
# ---- GAU A matrix ----
Z=[[mpf(1),mpf(0)],[mpf(0),mpf(1)]]; gq=[1,1]; gk=[2,1]
Q=[[Z[i][j]*gq[j] for j in range(2)] for i in range(2)]; K=[[Z[i][j]*gk[j] for j in range(2)] for i in range(2)]
sdim=2; nn=2
Am=[[max(dot(Q[i],K[j])/sqrt(sdim),0)**2/nn for j in range(2)] for i in range(2)]
print("GAU relu^2 A",[[f(v) for v in r] for r in Am])
# ---- DeepNet ----
for N in [6,12,100]:
    print("DeepNet enc-only/dec-only N=%d alpha=%s beta=%s"%(N,f((2*N)**mpf(0.25)),f((8*N)**mpf(-0.25))))
N=M=6
print("enc-dec N=M=6: enc alpha",f(mpf('0.81')*(mpf(N)**4*M)**(mpf(1)/16))," enc beta",f(mpf('0.87')*(mpf(N)**4*M)**(-mpf(1)/16))," dec alpha",f((3*M)**mpf(0.25))," dec beta",f((12*M)**mpf(-0.25)))
print("Su table N=6 (2N=12): SGD",f(12**mpf(0.25)),f(12**mpf(-0.25))," Adam",f(12**mpf(0.5)),f(12**mpf(-0.5))," LAMB 1",f(12**mpf(-0.5)))
# ---- hubness ----
pts=[(0,0),(1,0),(0,1),(-1,0),(0,-1),(mpf('0.1'),mpf('0.1'))]
def hubs(pts,k):
    N=len(pts); H=[0]*N
    for i in range(N):
        ds=sorted([( (pts[i][0]-pts[j][0])**2+(pts[i][1]-pts[j][1])**2, j) for j in range(N) if j!=i])
        for _,j in ds[:k]: H[j]+=1
    return H
print("hub k=1",hubs(pts,1)," k=2",hubs(pts,2))
# ---- DDPM / DDIM (paper notation), T=2 ----
b=[None,mpf('0.1'),mpf('0.2')]; a=[None,1-b[1],1-b[2]]; ab=[mpf(1),a[1],a[1]*a[2]]
x2=mpf(1); epsv=mpf('0.5'); z=mpf('0.3')
mean=(x2-b[2]/sqrt(1-ab[2])*epsv)/sqrt(a[2])
sig_beta=sqrt(b[2]); sig_tilde=sqrt((1-ab[1])/(1-ab[2])*b[2])
print("DDPM t=2->1: abar",[f(v) for v in ab]," mean",f(mean,12)," x1 (sigma^2=beta)",f(mean+sig_beta*z,12)," x1 (sigma^2=beta_tilde)",f(mean+sig_tilde*z,12))
x0hat=(x2-sqrt(1-ab[2])*epsv)/sqrt(ab[2])
ddim=sqrt(ab[1])*x0hat+sqrt(1-ab[1])*epsv
print("DDIM eta=0 t=2->1: x0_hat",f(x0hat,12)," x1",f(ddim,12))
for eta_ in [mpf(1)]:
    s_=eta_*sqrt((1-ab[1])/(1-ab[2]))*sqrt(1-ab[2]/ab[1])
    x1=sqrt(ab[1])*x0hat+sqrt(1-ab[1]-s_**2)*epsv+s_*z
    print("DDIM eta=1: sigma",f(s_,12)," x1",f(x1,12))
# DDIM final step t=1->0 with abar_0=1
x1=mpf('0.7'); e1=mpf('0.2')
print("DDIM t=1->0 (abar_0=1): x0 =",f((x1-sqrt(1-ab[1])*e1)/sqrt(ab[1]),12))
# ---- SAU ----
xv=mpf(1)
print("softplus(t=1)",f(log(1+exp(xv)),12)," gauss-conv relu(s=1)",f((xv*erf(xv/sqrt(2))+xv+sqrt(2/pi)*exp(-xv**2/2))/2,12)," swish",f(xv*sig(xv),12)," gelu",f((xv+xv*erf(xv/sqrt(2)))/2,12))
def floor_approx(x,t=10,M=5,N=10):
    Phi=lambda u: sig(t*u)
    return sum(Phi(x-n)-1 for n in range(-M,1))+sum(Phi(x-n) for n in range(1,N+1))
print("floor approx t=10 at 2.5",f(floor_approx(mpf('2.5')),12)," at 2.0",f(floor_approx(mpf(2)),12)," at -1.3",f(floor_approx(mpf('-1.3')),12))
# ---- GP KL ----
s=[mpf(1),mpf(-2)]; tt=[mpf('0.5'),mpf('0.5')]
D=sum((sig(s[i])-sig(tt[i]))*(s[i]-tt[i]) for i in range(2))
dD=[sig(s[i])*(1-sig(s[i]))*(s[i]-tt[i])+sig(s[i])-sig(tt[i]) for i in range(2)]
print("GP-KL",f(D,12)," dD/ds",[f(v,10) for v in dD])
# equivalence with binary KL sum
def kl(p,q): return p*log(p/q)+(1-p)*log((1-p)/(1-q))
print("  sum of symmetric binary KLs",f(sum(kl(sig(s[i]),sig(tt[i]))+kl(sig(tt[i]),sig(s[i])) for i in range(2)),12))
# ---- probe / l2 attention ----
brow=[mpf(0),log(2)]
sm=[exp(v)/sum(exp(u) for u in brow) for v in brow]; l2=[exp(v)/sqrt(sum(exp(2*u) for u in brow)) for v in brow]
print("softmax row",[f(v) for v in sm],"sum",f(sum(sm))," l2 row",[f(v) for v in l2],"sum",f(sum(l2)))
# ---- LST gate ----
print("LST gate alpha=0",f(sig(0))," alpha=0.1,T=0.1",f(sig(mpf('0.1')/mpf('0.1'))))
# ---- input/param gradient inequality: 1 linear layer ----
W=[mpf(3),mpf(4)]; xin=[mpf(1),mpf(2)]
lhs=dot(W,W)*(1+dot(xin,xin))/(dot(W,W)*1)
rhs=dot(xin,xin)+1
print("ineq linear: lhs",f(lhs)," rhs",f(rhs))
