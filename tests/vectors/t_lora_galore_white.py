#!/usr/bin/env python3
# Test vectors for docs/math.md §3.8 (LoRA-SGD step and its exact η² decomposition, LoRA-Adam
# first step, additive-variant gradients, one GaLore Adam step, LoRA with A fixed to the top
# singular vector ≡ GaLore + SGD) and §4.5 (BERT-whitening of N = 4, d = 2 rows for each
# (β, γ, k) and the ddof = 1 / np.cov variant).
# Checked by: tests/optim/low_rank_optimizer_test.cpp, tests/js/optim.test.mjs,
#             tests/whitening/whitening_test.cpp, tests/js/whitening.test.mjs.
#
# Run by hand, not by CI:   python3 tests/vectors/t_lora_galore_white.py
# It needs only mpmath (Debian: apt-get install python3-mpmath; or pip install mpmath) and
# computes at 30–40 significant digits; the values are printed rounded (10–15 digits) and are
# the ones the tests compare against. docs/math.md §10 lists which section each script serves.

try:
    import mpmath  # noqa: F401
except ImportError:
    raise SystemExit('t_lora_galore_white.py: needs mpmath (apt-get install python3-mpmath, or pip install mpmath)')

from mpmath import mp, mpf, matrix, sqrt, eigsy, svd_r, nstr
mp.dps = 30
def f(x,n=10): return nstr(x,n)
def pm(M,n=10): return [[f(M[i,j],n) for j in range(M.cols)] for i in range(M.rows)]
# ---------- LoRA-as-optimizer ----------
W0=matrix([[1,0,2],[0,1,-1]]); A=matrix([[1],[2]]); B=matrix([[0.5,-1,0]])
G=matrix([[1,0,-1],[2,1,0]]); eta=mpf('0.1')
gA=G*B.T; gB=A.T*G
A1=A-eta*gA; B1=B-eta*gB
dW=A1*B1-A*B
first=-eta*(G*B.T*B + A*A.T*G); second=eta**2*G*B.T*A.T*G
print("gA",pm(gA)); print("gB",pm(gB)); print("A1",pm(A1)); print("B1",pm(B1))
print("W1=W0+A1B1",pm(W0+A1*B1)); print("dW",pm(dW)); print("first-order",pm(first)); print("eta^2 term",pm(second))
# Adam on projected grads, one step (bias-corrected, eps=1e-8), lr=0.01
lr=mpf('0.01');b1=mpf('0.9');b2=mpf('0.999');eps=mpf('1e-8')
def adam1(g):
    m=(1-b1)*g; v=(1-b2)*g**2; mh=m/(1-b1); vh=v/(1-b2); return mh/(sqrt(vh)+eps)
uA=matrix(2,1); uB=matrix(1,3)
for i in range(2): uA[i,0]=adam1(gA[i,0])
for j in range(3): uB[0,j]=adam1(gB[0,j])
A1a=A-lr*uA; B1a=B-lr*uB
print("Adam step A1",pm(A1a)); print("Adam step B1",pm(B1a)); print("Adam dW",pm(A1a*B1a-A*B))
# additive variant r=1 gradients: row sums and column sums
print("additive dL/dA (row sums)",pm(G*matrix([[1],[1],[1]]))," dL/dB (col sums)",pm(matrix([[1,1]])*G))
# ---------- GaLore ----------
G2=matrix([[3,1],[1,3],[0,0]])   # m=3 >= n=2 -> right projector P = Vh[:r]
U,S,Vh = svd_r(G2)
print("svd S",[f(S[i]) for i in range(len(S))]); print("Vh",pm(Vh)); print("U",pm(U))
P=Vh[0:1,:]
if P[0,0]<0: P=-P
R=G2*P.T
print("P",pm(P),"R",pm(R))
lr=mpf('0.01'); eps=mpf('1e-6'); scale=mpf('0.25')
M=(1-b1)*R; Vv=matrix(R.rows,R.cols)
for i in range(R.rows): Vv[i,0]=(1-b2)*R[i,0]**2
N=matrix(R.rows,R.cols)
for i in range(R.rows): N[i,0]=M[i,0]/(sqrt(Vv[i,0])+eps)
step=lr*sqrt(1-b2)/(1-b1)
upd=step*scale*(N*P)
print("N",pm(N),"step_size",f(step)); print("GaLore dW (subtract)",pm(upd))
W=matrix([[1,0],[0,1],[1,1]])
print("W after (wd=0):",pm(W-upd))
# LoRA(A fixed=left top singular vec, B from 0, SGD) == GaLore-left + SGD
u1=U[:,0]
if u1[0]<0: u1=-u1
print("u1",pm(u1)); print("P_left P_left^T G",pm(u1*u1.T*G2)); print("SGD dW (eta=0.1)",pm(-mpf('0.1')*u1*u1.T*G2))
# ---------- BERT-whitening ----------
X=matrix([[3,3],[1,1],[2,3],[2,1]]); N_=X.rows; d=X.cols
def whiten(X,beta,gamma,k,ddof=0):
    N_=X.rows; d=X.cols
    mu=matrix(1,d)
    for j in range(d): mu[0,j]=sum(X[i,j] for i in range(N_))/N_
    C=matrix(N_,d)
    for i in range(N_):
        for j in range(d): C[i,j]=X[i,j]-beta*mu[0,j]
    Sig=(C.T*C)/(N_-ddof)
    E,Q=eigsy(Sig)
    idx=sorted(range(d),key=lambda t:-E[t])
    lam=[E[t] for t in idx]; Uc=matrix(d,d)
    for c,t in enumerate(idx):
        col=[Q[r,t] for r in range(d)]
        big=max(range(d),key=lambda r:abs(col[r]))
        sgn = 1 if col[big]>0 else -1
        for r in range(d): Uc[r,c]=sgn*col[r]
    Wk=matrix(d,k)
    for r in range(d):
        for c in range(k): Wk[r,c]=Uc[r,c]*lam[c]**(-gamma/2)
    return mu,Sig,lam,Uc,C*Wk
for (beta,gamma,k) in [(1,1,2),(1,1,1),(0,0,2),(0,0,1),(mpf('0.5'),mpf('0.5'),2)]:
    mu,Sig,lam,Uc,Y=whiten(X,beta,gamma,k)
    print("beta=%s gamma=%s k=%d"%(beta,gamma,k)," mu",pm(mu)," Sigma",pm(Sig)," lambda",[f(l) for l in lam]," U",pm(Uc))
    print("   Y",pm(Y))
    if (beta,gamma,k)==(1,1,2):
        Cv=(Y.T*Y)/N_; print("   cov(Y)",pm(Cv))
mu,Sig,lam,Uc,Y=whiten(X,1,1,2,ddof=1)
print("np.cov (N-1) variant Y",pm(Y), "lambda",[f(l) for l in lam])
