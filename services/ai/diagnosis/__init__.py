"""Diagnosers: the Claude tool loop and the offline playbook diagnoser, behind one interface."""
