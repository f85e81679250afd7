// Forms with data-confirm ask before they submit (an inline onsubmit would break the CSP).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
